"""monitor.crawl: subprocess crawls, statuses, the state database, and the store via the pipeline."""
from __future__ import annotations

import shutil
import socket
import sys

import pytest

from conftest import FIXTURES, shared_data
from monitor.app import Monitor
from monitor.config import SourceConfig, load_config
from monitor.crawl import crawl_command, judge, run_crawl
from monitor.errors import ConfigError
from monitor.localsite import serve_directory
from monitor.state import StateDB
from monitor.store import SearchQuery


@pytest.fixture(scope="module")
def board_site(tmp_path_factory):
    """The synthetic GBK board served without a charset header."""
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(FIXTURES / "pages" / "board", root / "board")
    with serve_directory(root, charset=None) as base:
        yield base


def _board(base: str, **kwargs) -> SourceConfig:
    return SourceConfig(
        id=kwargs.pop("id", "board"), spider="message_board", channel="board",
        url=f"{base}/board/list.synthetic.html", max_pages=5,
        selectors={"links": "table.list td.title a", "next_page": "//div[@class='pager']/a[text()='下一页']/@href",
                   "title": "h1.letter-title", "question": "div.letter-body", "asker": ".asker",
                   "submitted": ".submitted::text", "number": "xpath://span[@class='no']/text()",
                   "reply": "div.reply-body", "reply_unit": ".reply-unit",
                   "reply_time": ".reply-time", "status": ".status"}, **kwargs)


def test_dry_run_returns_documents_and_opens_no_store(board_site, make_config):
    config = load_config(make_config([_board(board_site)]))
    result = run_crawl(config, "board", dry_run=True, limit=2)
    assert result.status == "ok", result.message + result.log_tail
    assert result.dry_run and result.returncode == 0 and result.run_id is None
    assert len(result.items) == 2 and result.report["items"] == 2
    assert {d.platform_id for d in result.items} == {"LY2026-0001", "LY2026-0002"}
    assert result.report["warnings"]["not followed (max_items/limit)"] == 2  # on list page 1
    assert result.report["ingest"] is None
    assert not (config.data_dir / "documents.db").exists()
    assert not (config.data_dir / "state.db").exists()  # dry runs are not recorded
    assert result.to_dict()["items"][0]["source"] == "board"


def test_real_crawl_stores_then_recrawl_is_unchanged(board_site, make_config):
    config_dir = make_config([_board(board_site)])  # snownlp off; topics and risk run
    config = load_config(config_dir)
    with Monitor(config) as monitor:
        first = run_crawl(config, "board", monitor=monitor)
        second = run_crawl(config, "board", monitor=monitor)
        assert first.status == "ok", first.message + first.log_tail
        assert first.report["ingest"]["inserted"] == 5 and first.report["ingest"]["skipped"] == 0
        assert "5 new" in first.message
        assert second.status == "ok"
        assert second.report["ingest"]["inserted"] == 0
        assert second.report["ingest"]["unchanged"] == 5
        store = monitor.store
        assert store.count() == 5
        pending = store.search(SearchQuery(replied=False, sort="newest")).hits
        assert sorted(h.document.platform_id for h in pending) == ["LY2026-0002", "LY2026-0005"]
        assert first.items == []  # real crawls do not hand documents back
        runs = monitor.state.runs("board")
        assert [r.status for r in runs] == ["ok", "ok"]
        assert runs[0].id == second.run_id and runs[0].unchanged == 5 and runs[1].inserted == 5
        assert runs[1].errors == 1 and runs[1].skipped == 1  # the 404 and the broken page
        assert runs[1].report["selector_pages"]["links"] == 2


def test_unreachable_source_fails_and_is_recorded(make_config):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = SourceConfig(id="down", spider="rss", channel="news",
                          url=f"http://127.0.0.1:{port}/feed.xml")
    config = load_config(make_config([source]))
    result = run_crawl(config, "down")
    assert result.status == "failed" and not result.ok
    assert "start URL unreachable" in result.message and f":{port}/feed.xml" in result.message
    assert result.report["unreachable"] == [f"http://127.0.0.1:{port}/feed.xml"]
    assert result.report["items"] == 0
    state = StateDB(config.state_url)
    try:
        (run,) = state.runs("down")
        assert run.status == "failed" and "unreachable" in run.message and run.errors == 1
    finally:
        state.close()


def test_hanging_site_is_stopped_at_the_timeout(make_config):
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        source = SourceConfig(id="slow", spider="rss", channel="news",
                              url=f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml")
        config = load_config(make_config([source]))
        result = run_crawl(config, "slow", dry_run=True, timeout=2.5)
    assert result.status == "failed" and "timed out after 2.5 s" in result.message
    assert result.returncode is not None  # the process is gone


def test_source_file_typo_and_unknown_id_raise_config_error(make_config):
    config_dir = make_config([])
    (config_dir / "sources" / "typo.toml").write_text(
        'spider = "news_lst"\nchannel = "news"\nurl = "http://127.0.0.1/"\n', encoding="utf-8")
    config = load_config(config_dir)
    with pytest.raises(ConfigError, match="did you mean 'news_list'"):
        run_crawl(config, "typo")
    with pytest.raises(ConfigError, match="no source 'nope'"):
        run_crawl(config, "nope", dry_run=True)


def test_command_line_and_judgement(make_config, tmp_path):
    source = SourceConfig(id="feed", spider="rss", channel="news", url="http://127.0.0.1/x.xml")
    config = load_config(make_config([source]))
    cmd = crawl_command(config, "feed", tmp_path, dry_run=True, limit=3)
    assert cmd[:5] == [sys.executable, "-m", "scrapy", "crawl", "rss"]
    assert f"config_dir={config.config_dir}" in cmd and "dry_run=1" in cmd and "limit=3" in cmd
    assert judge({"items": 0, "pages": 1}, 0, False, 60, "u")[0] == "empty"
    assert judge({"items": 2, "fatal": "cannot open the document store: x"}, 0, False, 60,
                 "u") == ("failed", "cannot open the document store: x")
    status, message = judge(None, 1, False, 60, "u", "Traceback\nValueError: boom\n")
    assert status == "failed" and "ValueError: boom" in message


def test_gne_lying_charset_page_crawled_for_real(make_config, tmp_path):
    """A real crawl of one lying-meta page: the stored title is the Chinese text, not mojibake."""
    gne = shared_data("news_html_gne_tests", "tests")
    root = tmp_path / "site"
    root.mkdir()
    (root / "list.html").write_text('<ul class="l"><li><a href="p/1.html">x</a></li></ul>',
                                    encoding="utf-8")
    (root / "p").symlink_to(gne / "people", target_is_directory=True)
    with serve_directory(root, charset=None) as base:
        source = SourceConfig(id="people", spider="news_list", channel="news",
                              url=f"{base}/list.html", selectors={"links": "ul.l a"})
        config_dir = make_config([source], disabled=["sentiment_snownlp", "topics", "risk"])
        result = run_crawl(load_config(config_dir), "people")
    assert result.status == "ok", result.message + result.log_tail
    with Monitor.open(config_dir) as monitor:
        hits = monitor.store.search(SearchQuery(text="郑板桥")).hits
        assert [h.document.title for h in hits] == ["女儿出嫁，郑板桥画了几笔兰花当嫁妆"]


def test_page_url_template_pages(make_config, tmp_path):
    """Without a next_page selector, page_url gives list pages 2..max_pages."""
    root = tmp_path / "site"
    root.mkdir()
    for page in (1, 2, 3, 4):
        name = "list.html" if page == 1 else f"list_{page}.html"
        (root / name).write_text(f'<ul class="l"><li><a href="a{page}.html">x</a></li></ul>',
                                 encoding="utf-8")
        (root / f"a{page}.html").write_text(
            f"<html><body><h1>第{page}篇文章的标题</h1><div class='c'><p>正文第{page}篇。</p></div>"
            f"<span class='t'>2026-11-0{page} 08:00</span></body></html>", encoding="utf-8")
    with serve_directory(root) as base:
        source = SourceConfig(id="paged", spider="news_list", channel="portal",
                              url=f"{base}/list.html", page_url=f"{base}/list_{{page}}.html",
                              max_pages=3, selectors={"links": "ul.l a", "title": "h1",
                                                      "content": "div.c", "published": ".t"})
        result = run_crawl(load_config(make_config([source])), "paged", dry_run=True)
    assert result.status == "ok", result.message + result.log_tail
    assert sorted(d.title for d in result.items) == ["第1篇文章的标题", "第2篇文章的标题",
                                                      "第3篇文章的标题"]
    assert result.report["pages"] == 6 and result.report["warnings"] == {}
    assert result.report["selector_misses"] == {}
