"""`monitor show ID` (one document in full) and how `monitor search` pages, counts and notes."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from monitor.app import Monitor
from monitor.cli import cli
from monitor.cli_search import result_footer, result_header
from monitor.documents import Document, Reply
from monitor.store import Hit, SearchResult

UTC = timezone.utc
PUBLISHED = datetime(2026, 11, 30, 1, 5, tzinfo=UTC)  # 09:05 in Asia/Shanghai


def _letter() -> Document:
    return Document.new(
        "county-mailbox", "mailbox", "http://127.0.0.1/mailbox/XZXX-2026-0042.html",
        kind="message", title="学校围墙倒塌", author="张先生",
        text="第一段：东湖镇中心小学围墙倒塌。\n第二段：" + "围墙多年失修，" * 40 + "请尽快处理。",
        published_at=PUBLISHED, crawled_at=PUBLISHED + timedelta(hours=3), place="东湖镇",
        department="示例县教育局", status="replied", platform_id="XZXX-2026-0042",
        reply=Reply("您好，已组织排查全县学校围墙。" + "排查结果将公示。" * 30, "示例县教育局",
                    datetime(2026, 11, 30, 6, 0, tzinfo=UTC)),
        engagement={"views": 1234, "comments": 5}, own=True,
        analysis={"sentiment": {"score": 0.12, "label": "negative"}, "topics": ["教育"]},
        risk=0.66, risk_reasons=["突发事件: 倒塌", "涉及学生/儿童: 学生"],
        extra={"board_section": "县长信箱"})


def _withdrawn() -> Document:
    return Document.new(
        "county-news", "portal", "http://127.0.0.1/news/1.html", title="围墙倒塌情况通报",
        text="通报全文", published_at=datetime(2026, 11, 24, 16, 0, tzinfo=UTC),
        crawled_at=PUBLISHED, withdrawn_at=datetime(2026, 12, 1, 2, 30, tzinfo=UTC),
        extra={"date_only": True})


@pytest.fixture
def run(config_dir):
    with Monitor.open(config_dir, entry_points=False) as m:
        m.store.put_many([_letter(), _withdrawn()])
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, ["-c", str(config_dir), *args])


def test_show_prints_every_field_in_full(run):
    doc = _letter()
    result = run("show", doc.id)
    assert result.exit_code == 0, result.output
    out = result.output
    for value in (doc.title, doc.id, "county-mailbox", "mailbox (领导信箱)", "message", doc.url,
                  "张先生", "东湖镇", "示例县教育局", "replied", "XZXX-2026-0042", "1234",
                  "0.66", "突发事件: 倒塌", "涉及学生/儿童: 学生", "0.12 (negative)", '["教育"]',
                  "县长信箱"):
        assert value in out, value
    assert re.search(r"^own channel +yes$", out, re.M)
    assert doc.text in out and doc.reply.text in out  # whole, not clipped
    assert "2026-11-30 09:05 Asia/Shanghai · 2026-11-30 01:05 UTC" in out
    assert "── reply · 示例县教育局 · 2026-11-30 14:00 Asia/Shanghai · 2026-11-30 06:00 UTC ──" in out
    assert "withdrawn" not in out and "date only" not in out


def test_show_marks_withdrawn_and_date_only_documents(run):
    doc = _withdrawn()
    out = run("show", doc.id).output
    lines = out.splitlines()
    assert lines[1].startswith("!! 已删除 / withdrawn since 2026-12-01 10:30 Asia/Shanghai")
    assert "2026-11-25 (date only, time unknown; stored as 2026-11-24 16:00 UTC)" in out
    assert re.search(r"^own channel +no$", out, re.M)


def test_show_json_is_the_stored_document(run):
    doc = _withdrawn()
    data = json.loads(run("show", doc.id, "--json").output)
    assert data["id"] == doc.id and data["withdrawn_at"] == "2026-12-01T02:30:00+00:00"
    assert data["extra"] == {"date_only": True}
    assert Document.from_dict(data) == doc


@pytest.mark.parametrize("wanted", ["nope", _letter().id[:8], " "])
def test_unknown_id_is_one_line_saying_how_to_find_ids(run, wanted):
    result = run("show", wanted)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "monitor search" in lines[0] and '"id"' in lines[0]


def test_search_shows_ids_and_withdrawn_hits(run):
    result = run("search", "围墙")
    assert result.exit_code == 0, result.output
    assert f"id {_letter().id}" in result.output and f"id {_withdrawn().id}" in result.output
    assert "● [withdrawn] 围墙倒塌情况通报" in result.output
    assert "● 学校围墙倒塌" in result.output
    assert "2026-11-25 (date only)" in result.output
    data = json.loads(run("search", "围墙", "--json").output)
    assert {h["id"] for h in data["hits"]} == {_letter().id, _withdrawn().id}
    assert data["notes"] == [] and data["total_is_lower_bound"] is False


def test_search_offset_pages_through_hits(run):
    first = run("search", "围墙", "--limit", "1", "--sort", "newest")
    second = run("search", "围墙", "--limit", "1", "--sort", "newest", "--offset", "1")
    assert first.output.startswith("hits 1–1 of 2") and "more: add --offset 1" in first.output
    assert second.output.startswith("hits 2–2 of 2") and "more:" not in second.output
    assert "学校围墙倒塌" in first.output and "学校围墙倒塌" not in second.output
    beyond = run("search", "围墙", "--offset", "5")
    assert beyond.output.startswith("no hits from number 6 on: 2 match")
    data = json.loads(run("search", "围墙", "--offset", "1", "--json").output)
    assert data["offset"] == 1 and len(data["hits"]) == 1 and data["total"] == 2
    assert run("search", "--offset", "-1").exit_code == 2


def _hits(n: int) -> list[Hit]:
    return [Hit(document=_letter()) for _ in range(n)]


def test_header_and_footer_say_lower_bounds_and_notes():
    result = SearchResult(total=312, hits=_hits(20), total_is_lower_bound=True,
                          notes=["the 2 s time limit was reached; the page may be incomplete"])
    assert result_header(result, 20) == "hits 21–40 of at least 312"
    assert result_footer(result, 20).splitlines() == [
        "note: the 2 s time limit was reached; the page may be incomplete",
        "more: add --offset 40"]
    exact = SearchResult(total=312, hits=_hits(20))
    assert result_header(exact, 20) == "hits 21–40 of 312"
    assert result_footer(SearchResult(total=3, hits=_hits(3))) == ""
    assert result_header(SearchResult(total=0, hits=[])) == "no documents match"


@pytest.mark.parametrize("published", [datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
                                       datetime(1, 1, 1, tzinfo=UTC)])
@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York"])
def test_dates_at_the_ends_of_the_calendar_are_shown_as_stored(make_config, published, tz):
    """9999-12-31 23:59 UTC is year 10000 in Asia/Shanghai, year 1 00:00 UTC is year 0 in New
    York: neither can be shown in the office zone, so the stored UTC value is, and nothing
    raises OverflowError."""
    config_dir = make_config()
    main = config_dir / "monitor.toml"
    main.write_text(main.read_text(encoding="utf-8").replace(
        'timezone = "Asia/Shanghai"', f'timezone = "{tz}"'), encoding="utf-8")
    doc = Document.new("county-news", "portal", "http://127.0.0.1/news/edge.html",
                       title="日历尽头的通报", text="日历尽头的正文", published_at=published,
                       crawled_at=published, withdrawn_at=published)
    with Monitor.open(config_dir, entry_points=False) as m:
        m.store.put_many([doc])
    runner = CliRunner()
    stored = f"{published.year:04d}-{published.month:02d}-{published.day:02d} " \
             f"{published.hour:02d}:{published.minute:02d}"
    found = runner.invoke(cli, ["-c", str(config_dir), "search", "日历"])
    assert found.exception is None, repr(found.exception)
    assert found.exit_code == 0 and "日历尽头的通报" in found.output
    shown = runner.invoke(cli, ["-c", str(config_dir), "show", doc.id])
    assert shown.exception is None, repr(shown.exception)
    if (published.year == 9999) == (tz == "Asia/Shanghai"):  # east of UTC at the end, west at
        assert f"{stored} UTC" in found.output                # the start: not showable
        assert f"withdrawn since {stored} UTC (not showable in {tz})" in shown.output
    else:
        assert f"{stored} UTC" not in found.output and "not showable" not in shown.output
        assert f" {tz} · {stored} UTC" in shown.output


def test_local_time_never_raises_and_pads_the_year():
    from monitor.output import local_time

    assert local_time(datetime(9999, 12, 31, 23, 59, tzinfo=UTC)) == "9999-12-31 23:59 UTC"
    assert local_time(datetime(9999, 12, 31, 10, 0, tzinfo=UTC)) == "9999-12-31 18:00"
    assert local_time(datetime(1, 1, 1, tzinfo=UTC), "America/New_York") == "0001-01-01 00:00 UTC"
    assert local_time(datetime(1, 1, 1, tzinfo=UTC), "UTC") == "0001-01-01 00:00"
    assert local_time(None) == ""


@pytest.mark.parametrize("args, bound", [
    (["--offset", str(2 ** 63)], "0<=x<=1000000"), (["--offset", "1000001"], "0<=x<=1000000"),
    (["--limit", "1001"], "1<=x<=1000"), (["--limit", str(10 ** 30)], "1<=x<=1000"),
    (["--limit", "0"], "1<=x<=1000"), (["--min-risk", "nan"], "nan is not a number")])
def test_search_offset_and_limit_are_bounded_with_a_message(run, args, bound):
    result = run("search", "围墙", *args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert bound in result.output.strip().splitlines()[-1], result.output
    assert run("search", "围墙", "--offset", "1000000").exit_code == 0
