"""rss spider: the Xinhua channel feeds (RSS 2.0, one with non-RFC-822 dates), a synthetic Atom
feed whose entries are fetched for their full text, and a synthetic RSS feed whose entries share
one page."""
from __future__ import annotations

import re
import shutil
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from conftest import FIXTURES, shared_data
from monitor.config import SourceConfig, load_config
from monitor.crawl import run_crawls
from monitor.localsite import serve_directory
from monitor.starter import write_config

SH = ZoneInfo("Asia/Shanghai")


def _feed_titles(path) -> list[str]:
    """Item titles straight from the XML (independent of the spider's parser)."""
    text = path.read_text(encoding="utf-8")
    return re.findall(r"<item>\s*<title>(.*?)</title>", text, re.S)


@pytest.fixture(scope="module")
def crawls(tmp_path_factory):
    feeds = shared_data("rss_xinhua_scraper_generated_analisi1")
    root = tmp_path_factory.mktemp("feeds")
    (root / "xinhua").symlink_to(feeds, target_is_directory=True)
    shutil.copytree(FIXTURES / "pages" / "feeds", root / "county")
    with serve_directory(root) as base:
        sources = [
            SourceConfig(id="xinhua-china", spider="rss", channel="news",
                         url=f"{base}/xinhua/xinhua_china.xml", fetch_detail=False),
            SourceConfig(id="xinhua-old", spider="rss", channel="news",
                         url=f"{base}/xinhua/older_xinhua_china_20251229.xml", fetch_detail=False),
            SourceConfig(id="county", spider="rss", channel="portal", own=True,
                         url=f"{base}/county/atom.synthetic.xml", fetch_detail=True,
                         department="县政府办公室", selectors={"content": "#zoom"}),
            SourceConfig(id="county-media", spider="rss", channel="portal",
                         url=f"{base}/county/same_link.synthetic.xml", fetch_detail=True,
                         selectors={"content": "#zoom"}),
        ]
        config_dir = tmp_path_factory.mktemp("cfg") / "config"
        write_config(config_dir, sources=sources, disabled=["sentiment_snownlp"])
        results = run_crawls(load_config(config_dir), [s.id for s in sources], parallel=2,
                             dry_run=True, timeout=120)
    return feeds, {r.source: r for r in results}


def test_rss_feed_items_titles_and_dates(crawls):
    feeds, results = crawls
    result = results["xinhua-china"]
    assert result.status == "ok", result.message + result.log_tail
    assert result.report["items"] == 30 and result.report["pages"] == 1
    assert [d.title for d in result.items] == _feed_titles(feeds / "xinhua_china.xml")
    first = result.items[0]
    assert first.title == "AI创意视频：裹上毛绒外衣，大寒氛围感拉满"
    assert first.url == "https://www.news.cn/politics/20260120/63600b51aa654119939a611f42b79e0b/c.html"
    assert first.platform_id == first.url  # the guid
    assert first.published_at == datetime(2026, 1, 20, tzinfo=SH)
    assert first.text == first.title  # the description repeats the title
    dates = {d.published_at.astimezone(SH).date().isoformat() for d in result.items}
    assert dates == {"2026-01-14", "2026-01-15", "2026-01-16", "2026-01-18", "2026-01-19",
                     "2026-01-20"}
    assert len({d.id for d in result.items}) == 30
    assert all(d.channel == "news" and d.kind == "article" for d in result.items)
    assert result.report["warnings"] == {} and result.report["errors"] == 0


def test_rss_feed_with_non_rfc822_dates(crawls):
    feeds, results = crawls
    result = results["xinhua-old"]
    assert result.status == "ok", result.message + result.log_tail
    assert [d.title for d in result.items] == _feed_titles(feeds / "older_xinhua_china_20251229.xml")
    assert len(result.items) == 18
    # "2025-12-29 19:58:18" has no zone: it is read as Asia/Shanghai local time
    expected = datetime(2025, 12, 29, 11, 58, 18, tzinfo=timezone.utc)
    assert {d.published_at for d in result.items} == {expected}
    assert "unparsed date" not in result.report["warnings"]


def test_atom_feed_with_detail_pages(crawls):
    _feeds, results = crawls
    result = results["county"]
    report = result.report
    assert result.status == "ok", result.message + result.log_tail
    docs = {d.platform_id: d for d in result.items}
    assert sorted(docs) == ["urn:example:county:news:1001", "urn:example:county:news:1002"]
    fetched = docs["urn:example:county:news:1001"]
    assert fetched.title == "县政府召开防汛工作部署会"
    assert fetched.text == ("11月20日上午，县政府召开防汛工作部署会，全面部署今冬明春防汛工作。\n"
                            "会议要求，各乡镇要压实责任，排查隐患，确保安全度汛。")
    assert fetched.published_at == datetime(2026, 11, 20, 9, 30, tzinfo=SH)
    assert fetched.author == "县政府办公室" and fetched.extra["categories"] == ["政务动态"]
    assert fetched.own and fetched.channel == "portal" and fetched.department == "县政府办公室"
    assert fetched.url.endswith("/county/article1.synthetic.html")
    # the page is gone: the entry is kept with the feed's summary, and the 404 is counted
    kept = docs["urn:example:county:news:1002"]
    assert kept.text == "新院区设置床位800张，开设门诊科室32个。"
    assert kept.published_at == datetime(2026, 11, 21, 10, 0, tzinfo=SH)
    assert report["error_kinds"] == {"HTTP 404": 1}
    assert report["skip_reasons"] == {"entry without link": 1}
    assert report["pages"] == 3 and report["items"] == 2


def test_entries_sharing_one_page_are_all_kept(crawls):
    """Different guids, one link: each entry is fetched and kept (Scrapy's duplicate filter
    would drop the second request without a trace); a repeated entry is a counted skip, a guid
    reused for another page falls back to the link, and a relative date is flagged."""
    _feeds, results = crawls
    result = results["county-media"]
    report = result.report
    assert result.status == "ok", result.message + result.log_tail
    assert len(result.items) == 3
    by_title = {d.title: d for d in result.items}
    assert sorted(by_title) == ["【图文】县政府召开防汛工作部署会", "【视频】县政府召开防汛工作部署会",
                                "【转载】县政府召开防汛工作部署会"]
    video, text, reprint = (by_title["【视频】县政府召开防汛工作部署会"],
                            by_title["【图文】县政府召开防汛工作部署会"],
                            by_title["【转载】县政府召开防汛工作部署会"])
    assert video.url == text.url and video.url.endswith("/county/article1.synthetic.html")
    assert video.platform_id == "urn:example:county:media:2001"
    assert text.platform_id == "urn:example:county:media:2002"
    assert reprint.platform_id == reprint.url and reprint.url.endswith("?from=rss")
    assert reprint.extra["guid"] == "urn:example:county:media:2002"
    assert len({d.id for d in result.items}) == 3
    for doc in result.items:  # every entry got the page's text
        assert doc.text.startswith("11月20日上午，县政府召开防汛工作部署会"), doc.title
    # 「3小时前」: flagged, and rounded to the minute so a re-crawl seconds later agrees
    assert video.extra["date_relative"] is True
    assert video.published_at.second == 0 and video.published_at.microsecond == 0
    assert "date_relative" not in text.extra
    assert text.published_at == datetime(2026, 11, 20, 9, 30, tzinfo=SH)
    assert report["pages"] == 4 and report["items"] == 3
    assert report["skip_reasons"] == {"duplicate entry": 1}
    assert report["warnings"] == {"duplicate guid": 1, "relative date": 1}
    assert report["errors"] == 0
