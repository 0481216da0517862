"""End to end: `monitor demo`, then the CLI on what it collected (real subprocess crawls)."""
import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import load_config
from monitor.crawl import run_crawls
from monitor.demo.site import build_site
from monitor.demo.sources import demo_sources
from monitor.localsite import serve_directory
from monitor.starter import write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(cli, ["demo", "--dir", str(root), "--no-sentiment"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root, result.output


def test_demo_collects_every_channel_and_explains_it(demo_dir):
    root, output = demo_dir
    info = build_site(root / "expected", seed=7)
    for heading in ("Documents by channel", "Highest risk", "Messages awaiting a reply",
                    "Search example"):
        assert heading in output
    runner = CliRunner()
    stats = json.loads(runner.invoke(cli, ["-c", str(root / "config"), "store", "stats",
                                           "--json"]).output)
    assert stats["by_channel"]["mailbox"] == info.messages
    assert stats["by_channel"]["portal"] == info.news
    assert stats["by_channel"]["news"] == info.feed_items
    assert stats["unanswered"] == info.pending
    hits = json.loads(runner.invoke(cli, ["-c", str(root / "config"), "search", "围墙 倒塌",
                                          "--json"]).output)
    assert hits["total"] >= 1
    top = json.loads(runner.invoke(cli, ["-c", str(root / "config"), "search", "--sort", "risk",
                                         "--limit", "3", "--json"]).output)
    assert top["hits"][0]["risk"] >= top["hits"][-1]["risk"]
    assert top["hits"][0]["risk_reasons"]


def test_recrawl_of_the_demo_site_stores_no_duplicates(demo_dir):
    root, _ = demo_dir
    config = load_config(root / "config")
    port = urlsplit(config.source("county-news").url).port  # the same site at the same address
    with serve_directory(root / "site", charset=None, port=port):
        results = run_crawls(config, list(config.sources))
    assert [r.source for r in results] == ["city-rss", "county-mailbox", "county-news"]
    for r in results:
        assert r.status == "ok", r.message
        assert r.report["ingest"]["inserted"] == 0, r.source
        assert r.report["ingest"]["unchanged"] == r.report["items"]


def test_sources_test_prints_items_and_stores_nothing(demo_dir, tmp_path):
    root, _ = demo_dir
    with serve_directory(root / "site", charset=None) as base_url:
        config_dir = tmp_path / "cfg"
        write_config(config_dir, sources=demo_sources(base_url), disabled=["sentiment_snownlp"])
        runner = CliRunner()
        result = runner.invoke(cli, ["-c", str(config_dir), "sources", "test", "county-mailbox",
                                     "--limit", "3"])
        assert result.exit_code == 0, result.output
        assert "reply:" in result.output and "unit asked:" in result.output
        source = load_config(config_dir).source("county-mailbox")
        source.selectors["question"] = "div.no-such-class"
        source.path.write_text(source.to_toml(), encoding="utf-8")
        human = runner.invoke(cli, ["-c", str(config_dir), "sources", "test", "county-mailbox",
                                    "--limit", "2"])
        data = json.loads(runner.invoke(cli, ["-c", str(config_dir), "sources", "test",
                                              "county-mailbox", "--limit", "2", "--json"]).output)
    assert "selector question = 'div.no-such-class' found nothing" in human.output
    assert data["report"]["selector_misses"]["question"] >= 1
    stats = json.loads(runner.invoke(cli, ["-c", str(config_dir), "store", "stats", "--json"]
                                     ).output)
    assert stats["total"] == 0  # a test run stores nothing
    assert data["report"]["items"] == 2


README = Path(__file__).resolve().parents[1] / "README.md"


def _json(root, *args):
    result = CliRunner().invoke(cli, ["-c", str(root / "config"), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_demo_search_example_says_how_many_it_prints(demo_dir):
    root, output = demo_dir
    header, body = output.split("== Search example:")[1].split("\nDone in")[0].split("\n", 1)
    found = re.search(r"→ (\d+) hits?(?:, showing the top (\d+))? ==", header)
    assert found, header
    total, shown = int(found.group(1)), int(found.group(2) or found.group(1))
    assert body.count("\n● ") == shown == min(3, total)
    assert total == _json(root, "search", "围墙 倒塌")["total"]


def test_demo_crawl_table_notes_are_not_cut(demo_dir):
    _, output = demo_dir
    crawl = output.split("crawling 3 sources …")[1].split("== Documents by channel")[0]
    assert "…" not in crawl
    notes = re.findall(r"^  (\d+) items from \d+ pages; (\d+) new, \d+ updated, "
                       r"\d+ unchanged(?:; .+)?$", crawl, re.M)
    assert len(notes) == 3 and all(int(new) == int(items) for items, new in notes)


def _examples(text: str, prefix: str) -> list[list[str]]:
    return [shlex.split(line, comments=True)[1:] for line in text.splitlines()
            if line.strip().startswith(prefix)]


def test_readme_search_examples_find_documents_in_the_demo(demo_dir):
    root, _ = demo_dir
    examples = _examples(README.read_text(encoding="utf-8"), "monitor search")
    assert any("--since" in args for args in examples)
    for args in examples:
        data = _json(root, *args)
        assert data["hits"], args
        for word in (a[1:] for a in args if a.startswith("-") and not a.startswith("--")):
            for hit in data["hits"]:  # an exclusion leaves out every document with the word
                assert word not in hit["title"] + hit["text"], (args, hit["title"])


def test_the_demo_suggestions_work(demo_dir):
    root, output = demo_dir
    tried = _examples(output.split("Try:")[1], "monitor -c")
    assert {args[2] for args in tried} >= {"search", "show", "store", "alerts", "rules"}
    for args in tried:
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        if args[2] == "search":
            assert result.output.startswith("hits 1–"), (args, result.output[:200])
        if args[2] == "show":
            assert "── text ──" in result.output and f"id {args[3]}" not in result.output


def test_the_demo_raises_one_alert_for_the_school_wall_burst(demo_dir):
    """The starter rules fire on the story: one alert listing the top posts, not one per post."""
    root, output = demo_dir
    section = output.split("== Alerts raised:")[1].split("Done in")[0]
    school = [line for line in section.splitlines() if "学校安全舆情 —" in line]
    assert len(school) == 1, section
    assert re.search(r"学校安全舆情 — [4-9] 条信息命中规则", school[0]), school[0]
    block = section.split(school[0])[1].split("\n  [")[0]
    assert block.count("围墙") >= 2  # its top posts follow it
    listed = json.loads(CliRunner().invoke(cli, ["-c", str(root / "config"), "alerts", "list",
                                                 "--rule", "school-safety-match",
                                                 "--json"]).output)
    assert len(listed) == 1
    # the county's own rebuttal and press release (own = true) are not public opinion
    shown = CliRunner().invoke(cli, ["-c", str(root / "config"), "alerts", "show",
                                     listed[0]["id"]]).output
    assert "county-news" not in shown


def test_the_demo_plays_the_story_as_an_incident(demo_dir):
    """The school-wall alert becomes an incident at 重大; the portal's 情况通报 is detected and
    confirmed as the release within the 3-hour target; no breach."""
    root, output = demo_dir
    story = output.split("== The story as an incident:")[1].split("Done in")[0]
    kinds = [line.split()[2] for line in story.splitlines() if line.startswith("  20")]
    assert kinds.index("detected") < kinds.index("release_proposed") < kinds.index("release")
    assert "press_held" in kinds
    assert "权威信息发布：门户网站" in story and "0 breach(es)" in story
    iid = story.split()[0]
    shown = CliRunner().invoke(cli, ["-c", str(root / "config"), "incidents", "show", iid])
    assert shown.exit_code == 0 and "重大/release_limit/due" in shown.output
