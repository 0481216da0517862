"""monitor.crawl: subprocess crawls, statuses, the state database, and the store via the pipeline."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import board_source, shared_data
from monitor import crawl
from monitor.app import Monitor
from monitor.config import SourceConfig, load_config
from monitor.crawl import crawl_command, judge, run_crawl, run_crawls
from monitor.errors import ConfigError
from monitor.localsite import serve_directory
from monitor.state import StateDB, process_alive
from monitor.store import SearchQuery




def test_dry_run_returns_documents_and_opens_no_store(board_site, make_config):
    config = load_config(make_config([board_source(board_site)]))
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
    config_dir = make_config([board_source(board_site)])  # snownlp off; topics and risk run
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
    assert cmd[-4:] == ["-s", f"MONITOR_PARENT_PID={os.getpid()}", "-s",
                        f"MONITOR_WORKDIR={tmp_path}"]


def test_judgement_of_killed_and_stopped_crawlers():
    """kill -9 is named by its signal, not by whatever Scrapy logged last; an exception line
    is preferred over a line that merely contains "error"; a crawler stopped by someone
    else's SIGTERM did not finish."""
    noise = "2026-12-01 [scrapy.core.engine] INFO: error_kinds counted\n"
    assert judge(None, -9, False, 60, "u", noise) == (
        "failed", "the crawler was killed by signal SIGKILL (9)")
    assert judge({"items": 3}, -15, False, 60, "u")[1] == (
        "the crawler was killed by signal SIGTERM (15)")
    tail = ("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
            "KeyError: 'source'\n2026-12-01 [scrapy] INFO: closing, 0 errors so far\n")
    assert judge(None, 1, False, 60, "u", tail)[1].endswith("KeyError: 'source'")
    assert judge(None, 2, False, 60, "u", "usage: scrapy crawl\nno error words\n")[1] == (
        "the crawler exited with code 2 without a report: no error words")
    status, message = judge({"items": 7, "pages": 9, "finish_reason": "shutdown"}, 0, False,
                            60, "u")
    assert (status, message) == ("failed", "the crawler was stopped before it finished "
                                           "(shutdown) after 7 items")


def test_stop_on_signals_takes_only_default_handlers(monkeypatch):
    """SIGTERM and SIGHUP at their default action become CrawlTerminated while crawls run; an
    ignored SIGHUP (nohup) stays ignored; the old handlers come back afterwards."""
    old_term, old_hup = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        with crawl.stop_on_signals():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            with pytest.raises(crawl.CrawlTerminated) as caught:
                signal.raise_signal(signal.SIGTERM)
            with crawl.stop_on_signals():  # nested: the outer block's handler stays
                handler = signal.getsignal(signal.SIGTERM)
            assert signal.getsignal(signal.SIGTERM) is handler
            written = []
            with pytest.raises(crawl.CrawlTerminated):  # not while a run is being written
                with crawl._deferring_signals():
                    signal.raise_signal(signal.SIGTERM)
                    written.append("run")
            assert written == ["run"]
        assert caught.value.code == 128 + signal.SIGTERM and caught.value.signame == "SIGTERM"
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGHUP, old_hup)


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


def _group_alive(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid`` (Linux /proc)."""
    alive = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # state, ppid, pgrp, ...
            alive.append(int(entry.name))
    return alive


def _gone(proc: subprocess.Popen) -> bool:
    """True when the process and every process of its group have ended (zombies left to an
    init that reaps slowly count as ended)."""
    return proc.poll() is not None and not _group_alive(proc.pid)


def _kill_leftovers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if not _gone(proc):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_ctrl_c_stops_the_crawler_and_records_the_run(make_config, monkeypatch):
    """KeyboardInterrupt while waiting for the crawler (started in a session of its own, so the
    terminal's SIGINT never reaches it): the crawler is stopped and the run is not left
    "running"."""
    procs: list[subprocess.Popen] = []

    with socket.socket() as sock:  # accepts the crawler's connection but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(60)

        class CtrlCPopen(subprocess.Popen):
            def wait(self, timeout=None):
                if self in procs:
                    return super().wait(timeout)
                procs.append(self)
                conn, _ = sock.accept()  # the crawler is running and waits for the feed
                conn.close()
                raise KeyboardInterrupt

        monkeypatch.setattr(subprocess, "Popen", CtrlCPopen)
        source = SourceConfig(id="slow", spider="rss", channel="news",
                              url=f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml")
        config = load_config(make_config([source]))
        try:
            with pytest.raises(KeyboardInterrupt):
                run_crawl(config, "slow", timeout=60)
            assert len(procs) == 1 and _gone(procs[0])
        finally:
            _kill_leftovers(procs)
    state = StateDB(config.state_url)
    try:
        (run,) = state.runs("slow")
        assert run.status == "failed" and run.message == "interrupted (SIGINT)"
        assert run.finished_at is not None
    finally:
        state.close()


def test_sigterm_stops_the_crawler_and_records_the_run(make_config):
    """SIGTERM to the process running a crawl (in its main thread) is handled like Ctrl-C: the
    crawler is stopped, the run recorded as "interrupted (SIGTERM)" with its crawler's pid, and
    the exit status will be 143."""
    old = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with socket.socket() as sock:  # accepts the crawler's connection but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(60)

        def terminate():
            conn, _ = sock.accept()  # the crawler is running and waits for the feed
            conn.close()
            os.kill(os.getpid(), signal.SIGTERM)

        source = SourceConfig(id="slow", spider="rss", channel="news",
                              url=f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml")
        config = load_config(make_config([source]))
        threading.Thread(target=terminate, daemon=True).start()
        try:
            with pytest.raises(SystemExit) as caught:
                run_crawl(config, "slow", timeout=60)
        finally:
            signal.signal(signal.SIGTERM, old)
    assert caught.value.code == 143
    state = StateDB(config.state_url)
    try:
        (run,) = state.runs("slow")
        assert run.status == "failed" and run.message == "interrupted (SIGTERM)"
        assert run.crawler_pid and not process_alive(run.crawler_pid)
        assert run.owner_pid == os.getpid() and run.timeout_seconds == 60
    finally:
        state.close()


def test_ctrl_c_during_parallel_crawls_stops_them_all(make_config, monkeypatch):
    """SIGINT lands in the main thread while two crawls run in worker threads: both crawlers
    (and their children) are stopped promptly, both runs are recorded, the third never starts."""
    procs: list[subprocess.Popen] = []
    started = threading.Semaphore(0)

    class RecordingPopen(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            procs.append(self)
            started.release()

    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
    # a crawler that hangs, with a child of its own: the whole process group must go
    monkeypatch.setattr(crawl, "crawl_command",
                        lambda *a, **k: ["/bin/sh", "-c", "sleep 30 & sleep 30; wait"])
    sources = [SourceConfig(id=f"s{n}", spider="rss", channel="news",
                            url=f"http://127.0.0.1:9/{n}.xml") for n in (1, 2, 3)]
    config = load_config(make_config(sources))
    StateDB(config.state_url).close()  # tables first: two StateDB() creating them race
    main = threading.main_thread().ident

    def interrupt():
        for _ in range(2):
            started.acquire(timeout=30)
        time.sleep(0.3)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    began = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_crawls(config, ["s1", "s2", "s3"], parallel=2, timeout=20)
        assert time.monotonic() - began < 15
        assert len(procs) == 2 and all(_gone(p) for p in procs)
    finally:
        _kill_leftovers(procs)
    state = StateDB(config.state_url)
    try:
        runs = {r.source: r for r in state.runs()}
        assert sorted(runs) == ["s1", "s2"]
        assert all(r.status == "failed" and r.message == "interrupted (SIGINT)"
                   for r in runs.values())
    finally:
        state.close()


def test_recrawl_of_moved_items_with_relative_dates_is_unchanged(make_config, tmp_path):
    """An article that moved to list page 2 and one dated 「3小时前」 are unchanged on a re-crawl:
    the list page is not part of the document, and a relative date is flagged (and rounded to
    the minute) so the first-seen date is kept."""
    root = tmp_path / "site"
    root.mkdir()
    articles = {"a1": ("停水通知发布", "3小时前"), "a2": ("道路施工公告", "昨天 12:30"),
                "a3": ("招聘公告发布", "2026-11-03 08:00")}
    for name, (title, date) in articles.items():
        (root / f"{name}.html").write_text(
            f"<html><body><h1>{title}</h1><div class='c'><p>{title}的正文。</p></div>"
            f"<span class='t'>{date}</span></body></html>", encoding="utf-8")

    def lists(page1: list[str], page2: list[str]) -> None:
        for name, links in (("list.html", page1), ("list_2.html", page2)):
            items = "".join(f'<li><a href="{a}.html">x</a></li>' for a in links)
            nxt = '<a class="next" href="list_2.html">下一页</a>' if name == "list.html" else ""
            (root / name).write_text(f'<ul class="l">{items}</ul>{nxt}', encoding="utf-8")

    lists(["a1", "a2"], ["a3"])
    with serve_directory(root) as base:
        source = SourceConfig(id="moving", spider="news_list", channel="portal",
                              url=f"{base}/list.html", max_pages=2,
                              selectors={"links": "ul.l a", "next_page": "a.next",
                                         "title": "h1", "content": "div.c", "published": ".t"})
        config_dir = make_config([source], disabled=["sentiment_snownlp", "topics", "risk"])
        config = load_config(config_dir)
        with Monitor(config) as monitor:
            first = run_crawl(config, "moving", monitor=monitor)
            assert first.status == "ok", first.message + first.log_tail
            assert first.report["ingest"]["inserted"] == 3
            stored = {h.document.title: h.document for h in
                      monitor.store.search(SearchQuery(sort="newest")).hits}
            lists(["a3", "a2"], ["a1"])  # a1 moved to page 2, a3 to page 1
            second = run_crawl(config, "moving", monitor=monitor)
            assert second.status == "ok", second.message + second.log_tail
            assert second.report["ingest"]["unchanged"] == 3, second.report["ingest"]
            assert second.report["ingest"]["updated"] == 0
            assert second.report["warnings"]["relative date"] == 2
            again = {h.document.title: h.document for h in
                     monitor.store.search(SearchQuery(sort="newest")).hits}
    for title in ("停水通知发布", "道路施工公告"):
        doc = again[title]
        assert doc.extra == {"date_relative": True}
        assert doc.published_at == stored[title].published_at
        assert doc.published_at.second == 0 and doc.published_at.microsecond == 0
    assert again["招聘公告发布"].extra == {}  # no list page, no flag
