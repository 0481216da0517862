"""Defect 2 of issue 6: four crawls at once (two with large pages) plus searches, repeated.

Before the fix, jieba segmented inside the write transaction and held SQLite's lock for ≈ 12 s,
past the 10 s busy timeout: crawls failed with ``database is locked`` and one stored 20 of 120
letters.  Now every batch is prepared before the lock is taken; a batch that still cannot be
written is spooled and written later.  Pass: every crawl ok, every letter stored exactly once,
nothing failed, the index consistent, every search answered.
"""
from __future__ import annotations

import threading

import pytest

from monitor.app import Monitor
from monitor.config import SourceConfig, load_config
from monitor.crawl import run_crawl
from monitor.localsite import LETTER_BOARD_SELECTORS, serve_directory, write_letter_board
from monitor.pipeline import Ingestor
from monitor.starter import write_config
from monitor.store import SearchQuery

pytestmark = pytest.mark.slow

LETTERS = 30


def test_four_crawls_and_searches_at_once_lose_nothing(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    names = ["east", "west", "north", "south"]
    for i, name in enumerate(names):
        write_letter_board(site, name, LETTERS, filler_repeats=1500 if i < 2 else 2)
    with serve_directory(site) as base:
        sources = [SourceConfig(id=name, spider="news_list", channel="board",
                                url=f"{base}/{name}/list.html",
                                selectors=LETTER_BOARD_SELECTORS) for name in names]
        config_dir = tmp_path / "config"
        write_config(config_dir, sources=sources, disabled=["sentiment_snownlp"])
        config = load_config(config_dir)
        searches: list[int] = []
        search_errors: list[Exception] = []
        for round_no in range(2):
            results = {}
            done = threading.Event()

            def crawl(name: str) -> None:
                results[name] = run_crawl(config, name, timeout=300)

            def search() -> None:
                with Monitor(config) as monitor:
                    while not done.is_set():
                        try:
                            searches.append(monitor.store.search(
                                SearchQuery(text="道路改造", limit=5)).total)
                        except Exception as exc:  # noqa: BLE001 - collected and asserted
                            search_errors.append(exc)
                        done.wait(0.2)

            threads = [threading.Thread(target=crawl, args=(n,)) for n in names]
            searcher = threading.Thread(target=search)
            searcher.start()
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=400)
            done.set()
            searcher.join(timeout=60)
            for name, result in results.items():
                assert result.status == "ok", (round_no, name, result.message)
                ingest = result.report["ingest"]
                assert ingest["received"] == LETTERS, (name, ingest)
                assert ingest["skipped"] == 0
                expected = "inserted" if round_no == 0 else "unchanged"
                assert ingest[expected] + ingest["spooled"] == LETTERS, (name, ingest)
                hold = ingest["write_lock_ms"]
                assert hold["max"] is None or hold["max"] < 5_000, hold
            assert len(results) == 4
    assert not search_errors
    assert searches  # the searcher ran while the crawls wrote
    with Monitor(config) as monitor:
        with Ingestor(monitor) as ingestor:  # anything spooled is written now
            pass
        assert ingestor.stats.spooled == 0
        store = monitor.store
        assert store.count() == 4 * LETTERS
        for name in names:
            assert store.count(SearchQuery(sources=[name])) == LETTERS
        assert store.check_integrity() == []
        assert all(r.status == "ok" for r in monitor.state.runs(limit=20))
