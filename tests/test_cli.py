"""The command line, through click's CliRunner."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from monitor.app import Monitor
from monitor.cli import cli
from monitor.documents import Document, Reply


@pytest.fixture
def run(config_dir):
    runner = CliRunner()

    def _run(*args, input=None):
        return runner.invoke(cli, ["-c", str(config_dir), *args], input=input,
                             catch_exceptions=False)

    return _run


def test_help_lists_the_verbs():
    result = CliRunner().invoke(cli, ["--help"])
    for verb in ("init", "sources", "crawl", "search", "show", "plugins", "store", "demo"):
        assert verb in result.output


def test_init_writes_a_loadable_config(tmp_path):
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "cfg")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cfg" / "sources" / "example-portal.toml").exists()
    again = CliRunner().invoke(cli, ["init", str(tmp_path / "cfg")])
    assert again.exit_code == 1 and "--force" in again.output


def test_missing_config_is_a_clear_error_not_a_traceback(tmp_path):
    result = CliRunner().invoke(cli, ["-c", str(tmp_path / "none"), "sources", "list"])
    assert result.exit_code == 1
    assert "monitor init" in result.output and "Traceback" not in result.output


def test_sources_add_list_show_disable_enable_remove(run, config_dir):
    result = run("sources", "add", "county-mailbox", "--spider", "message_board",
                 "--channel", "mailbox", "--url", "http://127.0.0.1/mb/index.html",
                 "--name", "县长信箱", "--selector", "question=.content",
                 "--selector", "reply=.reply")
    assert result.exit_code == 0, result.output
    listed = json.loads(run("sources", "list", "--json").output)
    assert [s["id"] for s in listed["sources"]] == ["county-mailbox"]
    assert listed["sources"][0]["selectors"] == {"question": ".content", "reply": ".reply"}
    assert "县长信箱" in run("sources", "show", "county-mailbox").output
    assert run("sources", "disable", "county-mailbox").exit_code == 0
    assert json.loads(run("sources", "show", "county-mailbox", "--json").output)["enabled"] is False
    assert run("sources", "enable", "county-mailbox").exit_code == 0
    assert json.loads(run("sources", "show", "county-mailbox", "--json").output)["enabled"] is True
    assert run("sources", "remove", "county-mailbox", "--yes").exit_code == 0
    assert not (config_dir / "sources" / "county-mailbox.toml").exists()


def test_sources_add_rejects_bad_input(run, config_dir):
    bad_selector = run("sources", "add", "x", "--spider", "rss", "--channel", "news",
                       "--url", "http://a/feed.xml", "--selector", "title=h1")
    assert bad_selector.exit_code == 2 and "not a rss selector" in bad_selector.output
    bad_url = run("sources", "add", "y", "--spider", "rss", "--channel", "news", "--url", "a/b")
    assert bad_url.exit_code == 1 and "http" in bad_url.output
    bad_id = run("sources", "add", "Bad Id", "--spider", "rss", "--channel", "news",
                 "--url", "http://a/")
    assert bad_id.exit_code == 2 and "lower-case letters" in bad_id.output
    escape = run("sources", "add", "../escape", "--spider", "rss", "--channel", "news",
                 "--url", "http://a/")
    assert escape.exit_code == 2
    assert not list(config_dir.rglob("escape.toml")) and not (config_dir.parent / "escape.toml").exists()
    newline = run("sources", "add", "nl", "--spider", "rss", "--channel", "news", "--url",
                  "http://a/", "--name", "第一行\n第二行")
    assert newline.exit_code == 0, newline.output
    assert json.loads(run("sources", "show", "nl", "--json").output)["name"] == "第一行\n第二行"


def test_broken_source_file_is_shown_and_others_still_work(run, config_dir):
    (config_dir / "sources" / "typo.toml").write_text('spider = "rs"\nchannel="news"\nurl="http://a"\n')
    result = run("sources", "list")
    assert result.exit_code == 0
    assert "typo.toml" in result.output and "did you mean 'rss'" in result.output
    crawl = run("crawl", "typo")
    assert crawl.exit_code == 1 and "did you mean 'rss'" in crawl.output
    everything = run("crawl", "--all")  # only the disabled example: nothing to crawl, but say why
    assert everything.exit_code == 1
    assert "not crawled" in everything.output and "typo.toml" in everything.output
    assert "no enabled sources" in everything.output
    shown = run("sources", "show", "typo")
    assert shown.exit_code == 1 and 'spider = "rs"' in shown.output
    assert run("sources", "remove", "typo", "--yes").exit_code == 0
    assert not (config_dir / "sources" / "typo.toml").exists()


def test_sources_show_of_a_named_pipe_is_a_one_line_error(config_dir):
    """Reading a FIFO blocks until a writer comes: `sources show` must not open it (run in a
    subprocess, so that the old hang fails this test instead of stopping the test run)."""
    import os
    import subprocess
    import sys

    os.mkfifo(config_dir / "sources" / "pipe.toml")
    try:
        done = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config_dir), "sources",
                               "show", "pipe"], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("`monitor sources show` of a named pipe hangs")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "pipe.toml" in lines[0] and "not a regular file" in lines[0]


def test_sources_show_cuts_a_huge_broken_file(run, config_dir):
    (config_dir / "sources" / "big.toml").write_text("x = 1\n" + "# 注释\n" * 200_000,
                                                      encoding="utf-8")
    result = run("sources", "show", "big")
    assert result.exit_code == 1 and "cut: only the first 100,000 characters" in result.output
    assert len(result.output) < 110_000


def test_misspelt_key_says_did_you_mean_not_missing(run, config_dir):
    (config_dir / "sources" / "k.toml").write_text('spidr = "rss"\nchannel="news"\nurl="http://a"\n')
    assert "did you mean 'spider'" in run("sources", "list").output


def test_file_problems_are_one_line_errors(tmp_path):
    runner = CliRunner()
    as_dir = tmp_path / "d1"
    (as_dir / "monitor.toml").mkdir(parents=True)
    result = runner.invoke(cli, ["-c", str(as_dir), "sources", "list"])
    assert result.exit_code == 1 and "is a directory" in result.output
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    for args in (["sources", "list"], ["init"]):
        result = runner.invoke(cli, ["-c", str(a_file), *args])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    bom = tmp_path / "bom"
    runner.invoke(cli, ["init", str(bom)])
    text = (bom / "monitor.toml").read_text(encoding="utf-8")
    (bom / "monitor.toml").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert runner.invoke(cli, ["-c", str(bom), "sources", "list"]).exit_code == 0
    (bom / "data").mkdir()
    (bom / "data" / "documents.db").write_bytes(b"not a database at all" * 100)
    result = runner.invoke(cli, ["-c", str(bom), "search", "x"])
    assert result.exit_code == 1 and "documents.db" in result.output
    (bom / "data" / "state.db").write_bytes(b"garbage" * 100)
    result = runner.invoke(cli, ["-c", str(bom), "sources", "status"])
    assert result.exit_code == 1 and "state" in result.output


def test_settings_for_an_unknown_plugin_are_a_typo(run, config_dir):
    toml = config_dir / "monitor.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("[plugins.sentiment_snownlp]",
                                                             "[plugins.sentiment_snowlp]"))
    result = run("plugins", "list")
    assert result.exit_code == 1 and "did you mean 'plugins.sentiment_snownlp'" in result.output


def test_plugins_list(run):
    rows = json.loads(run("plugins", "list", "--json").output)
    by_name = {r["name"]: r for r in rows}
    assert by_name["risk"]["enabled"] and by_name["risk"]["origin"] == "built-in"
    assert by_name["sentiment_snownlp"]["enabled"] is False  # disabled by the test config
    assert "analyze_document" in by_name["topics"]["hooks"]
    assert "sentiment_snownlp" in run("plugins", "list").output


@pytest.fixture
def seeded(config_dir):
    now = datetime.now(timezone.utc)
    docs = [
        Document.new("mb", "mailbox", "http://a/1", kind="message", title="学校围墙倒塌",
                     text="东湖镇中心小学围墙倒塌，有学生受伤", published_at=now - timedelta(hours=2)),
        Document.new("mb", "mailbox", "http://a/2", kind="message", title="路灯不亮",
                     text="青石乡路灯坏了一个月", published_at=now - timedelta(days=20),
                     reply=Reply("已修复", "城管局", now)),
        Document.new("news", "portal", "http://a/3", title="县政府召开常务会议",
                     text="会议研究了民生工程", published_at=now - timedelta(days=1)),
    ]
    with Monitor.open(config_dir, entry_points=False) as m:
        m.ingest(docs)
    return docs


def test_search_filters_and_json(run, seeded):
    hits = json.loads(run("search", "围墙", "--json").output)
    assert hits["total"] == 1 and hits["hits"][0]["title"] == "学校围墙倒塌"
    recent = json.loads(run("search", "--since", "7d", "--json").output)
    assert recent["total"] == 2
    unanswered = json.loads(run("search", "--unanswered", "--json").output)
    assert [h["url"] for h in unanswered["hits"]] == ["http://a/1"]
    portal = json.loads(run("search", "--channel", "portal", "--json").output)
    assert portal["total"] == 1
    text = run("search", "围墙 倒塌").output
    assert "学校围墙倒塌" in text and "未回复" in text


def test_search_bad_since_is_a_usage_error(run, seeded):
    result = run("search", "x", "--since", "yesterday-ish")
    assert result.exit_code == 2 and "7d" in result.output
    for value in ("99999999d", "0001-01-01"):
        result = run("search", "x", "--since", value)
        assert result.exit_code == 2 and "usable time" in result.output


def test_store_stats(run, seeded):
    data = json.loads(run("store", "stats", "--json").output)
    assert data["total"] == 3 and data["unanswered"] == 1
    assert data["by_channel"] == {"mailbox": 2, "portal": 1}
    assert "re-indexed 3 document(s)" in run("store", "rebuild-index").output
    assert json.loads(run("search", "围墙", "--json").output)["total"] == 1


def test_crawl_table_shows_each_note_whole_under_its_row():
    from monitor.cli import crawl_table
    from monitor.crawl import CrawlResult

    long = "150 items from 158 pages; 0 new, 0 updated, 150 unchanged; 3 skipped; 2 errors"
    results = [CrawlResult("county-news", "ok", {"pages": 158, "items": 150,
                                                 "ingest": {"unchanged": 150}}, message=long),
               CrawlResult("county-mailbox", "ok",
                           {"items": 4, "ingest": {"updated": 1, "kept_aside": 2,
                                                   "withdrawn": 1}}, message="4 items")]
    lines = crawl_table(results).splitlines()
    assert lines[0].split() == ["source", "status", "pages", "items", "new", "updated", "same",
                                "skipped", "errors", "time"]
    assert lines[2].startswith("county-news") and lines[3] == "  " + long
    assert lines[4].startswith("county-mailbox") and lines[5] == "  4 items"
    assert lines[6].startswith("  2 kept aside") and "1 withdrawn" in lines[6]
    assert "…" not in "\n".join(lines)


def _finish(state, source, status, message, report=None):
    run_id = state.start_run(source)
    state.finish_run(run_id, status=status, message=message, report=report)


def test_sources_status_shows_why_each_source_failed(make_config):
    from monitor.config import SourceConfig
    from monitor.crawl import judge

    config_dir = make_config(sources=[
        SourceConfig(id=name, spider="rss", channel="news", url=f"http://127.0.0.1/{name}.xml")
        for name in ("alpha", "beta", "gamma")], name="status")
    why = {"alpha": "ModuleNotFoundError: No module named 'lxml_html_clean' (install it)",
           "beta": "twisted.internet.error.DNSLookupError: DNS lookup failed: no results"}
    messages = {}
    with Monitor.open(config_dir, entry_points=False) as m:
        for name, cause in why.items():  # "the crawler exited with code 1: <cause>"
            status, messages[name] = judge({}, 1, False, 60, "http://127.0.0.1/", cause)
            assert cause in messages[name]
            _finish(m.state, name, status, messages[name])
        _finish(m.state, "gamma", "ok", "5 items",
                {"items": 5, "ingest": {"inserted": 2, "kept_aside": 3, "withdrawn": 1}})
    result = CliRunner().invoke(cli, ["-c", str(config_dir), "sources", "status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name, cause in why.items():
        row = next(i for i, ln in enumerate(lines) if ln.startswith(name))
        assert lines[row].rstrip().endswith("failed 1 run in a row")
        assert lines[row + 1] == f"  why: {messages[name]}"
    gamma = next(i for i, ln in enumerate(lines) if ln.startswith("gamma"))
    assert "3 kept aside" in lines[gamma + 1] and "1 withdrawn" in lines[gamma + 1]
    data = {d["source"]: d for d in json.loads(CliRunner().invoke(
        cli, ["-c", str(config_dir), "sources", "status", "--json"]).output)}
    assert data["alpha"]["last_failure"].endswith(why["alpha"])
    assert (data["gamma"]["kept_aside"], data["gamma"]["withdrawn"]) == (3, 1)
    assert (data["beta"]["kept_aside"], data["beta"]["withdrawn"]) == (None, None)  # old report
