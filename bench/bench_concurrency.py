"""Write-lock hold time during concurrent crawls (issue 6, defect 2).

Four letter boards on a loopback server, two of them with pages of ≈ 100,000 characters, are
crawled by real ``monitor`` crawls (Scrapy subprocesses writing the embedded store) while a
thread searches the store.  Baseline in the same run: the same four crawls one after another.
Reports, from the crawls' own run reports: write transactions, lock hold p95 / max against the
store's busy timeout, retries, spooled documents, failed crawls and lost letters.

    python bench/bench_concurrency.py [--letters 30] [--rounds 3] [--write FILE]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.app import Monitor  # noqa: E402
from monitor.config import SourceConfig, load_config  # noqa: E402
from monitor.crawl import run_crawl  # noqa: E402
from monitor.localsite import (LETTER_BOARD_SELECTORS, serve_directory,  # noqa: E402
                               write_letter_board)
from monitor.starter import write_config  # noqa: E402
from monitor.store import SearchQuery  # noqa: E402

NAMES = ("east", "west", "north", "south")
BUSY_TIMEOUT_MS = 5_000


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _config(tmp: Path, base: str, label: str):
    sources = [SourceConfig(id=n, spider="news_list", channel="board",
                            url=f"{base}/{n}/list.html", selectors=LETTER_BOARD_SELECTORS)
               for n in NAMES]
    directory = tmp / label
    write_config(directory, sources=sources, disabled=["sentiment_snownlp"])
    return load_config(directory)


def _round(config, parallel: bool) -> dict:
    results: dict = {}
    searches: list[float] = []
    done = threading.Event()

    def search() -> None:
        with Monitor(config) as monitor:
            while not done.is_set():
                began = time.perf_counter()
                monitor.store.search(SearchQuery(text="道路改造", limit=5))
                searches.append((time.perf_counter() - began) * 1000)
                done.wait(0.2)

    began = time.perf_counter()
    searcher = threading.Thread(target=search)
    searcher.start()
    if parallel:
        threads = [threading.Thread(target=lambda n=n: results.__setitem__(
            n, run_crawl(config, n, timeout=600))) for n in NAMES]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for n in NAMES:
            results[n] = run_crawl(config, n, timeout=600)
    done.set()
    searcher.join()
    seconds = time.perf_counter() - began
    holds, retries, spooled, failed = [], 0, 0, 0
    for result in results.values():
        ingest = result.report.get("ingest") or {}
        failed += result.status != "ok"
        retries += ingest.get("write_retries", 0)
        spooled += ingest.get("spooled", 0)
        lock = ingest.get("write_lock_ms") or {}
        if lock.get("max") is not None:
            holds.append((lock["p95"], lock["max"], lock["transactions"]))
    return {"seconds": seconds, "failed": failed, "retries": retries, "spooled": spooled,
            "p95": max((h[0] for h in holds), default=None),
            "max": max((h[1] for h in holds), default=None),
            "transactions": sum(h[2] for h in holds), "searches": searches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--letters", type=int, default=30, help="letters per board")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", help="also write the report to this Markdown file")
    args = parser.parse_args()
    lines = [f"Command: `python bench/bench_concurrency.py --letters {args.letters} "
             f"--rounds {args.rounds}`", "",
             f"Four boards × {args.letters} letters (two with ≈ 100,000-character pages), "
             "crawled by real `monitor` crawls into one embedded store while a thread searches "
             "it. Each round starts from an empty store. Lock hold: the longest p95 and max of "
             "any crawl's write transactions (from the crawls' run reports), against the "
             f"store's busy timeout of {BUSY_TIMEOUT_MS:,} ms.", "",
             "| run | round | wall s | transactions | lock hold p95 / max ms | retries | "
             "spooled | failed crawls | letters stored / expected | search p95 / max ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        site = tmp / "site"
        for i, name in enumerate(NAMES):
            write_letter_board(site, name, args.letters, filler_repeats=1500 if i < 2 else 2)
        with serve_directory(site) as base:
            for label, parallel in (("baseline: one after another", False),
                                    ("four at once", True)):
                for r in range(args.rounds):
                    config = _config(tmp, base, f"{'par' if parallel else 'ser'}{r}")
                    out = _round(config, parallel)
                    with Monitor(config) as monitor:
                        stored = monitor.store.count()
                    lines.append(
                        f"| {label} | {r + 1} | {out['seconds']:.1f} | {out['transactions']} | "
                        f"{out['p95']} / {out['max']} | {out['retries']} | {out['spooled']} | "
                        f"{out['failed']} | {stored} / {4 * args.letters} | "
                        f"{_pct(out['searches'], .95) or 0:.0f} / "
                        f"{max(out['searches'], default=0):.0f} |")
                    print(lines[-1], flush=True)
    report = "\n".join(lines) + "\n"
    print(report)
    if args.write:
        Path(args.write).write_text("# Benchmarks: concurrent crawls and the write lock\n\n"
                                    + report, encoding="utf-8")


if __name__ == "__main__":
    main()
