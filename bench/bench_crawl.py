"""Crawl throughput: pages/s through ``monitor.crawl.run_crawl`` against a bare Scrapy spider.

    PYTHONPATH=. python bench/bench_crawl.py [--repeat 3] [--write docs/benchmarks-crawl.md]

The demo site (``monitor.demo.site.build_site``: news list + articles, GBK 县长信箱 + letters,
RSS + article pages) is served on loopback.  In the same run, on the same site:

* baseline: ``bench/bare_spider.py`` — follows links, nothing else — once for all three start
  URLs in one process, and once per source (one process each, as run_crawl does);
* ``run_crawl`` dry runs (the generic spiders, selectors, dates, masking, the run report; no store);
* ``run_crawl`` real crawls (+ the ingest pipeline with the topics and risk plugins and the
  embedded store, into a fresh store each time).

Figures are medians of ``--repeat`` runs: wall time including each subprocess's start-up, and
the crawl time the spider itself measured (report ``seconds``, start-up excluded).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.config import load_config  # noqa: E402
from monitor.crawl import crawl_env, run_crawl  # noqa: E402
from monitor.starter import write_config  # noqa: E402

try:
    from monitor.demo.site import build_site, serve_site
    from monitor.demo.sources import demo_sources
except ImportError:  # pragma: no cover - the demo package is written by another part
    sys.exit("monitor.demo.site / monitor.demo.sources are missing; write them first")


#: Paths each demo source's pages live under (the bare spider follows only these).
SECTIONS = {"county-news": "/news/", "county-mailbox": "/mailbox/", "city-rss": "/rss/,/citynews/"}


def bare(start_urls: list[str], tmp: Path, allow: str) -> tuple[int, float, float]:
    """Run the bare spider once; (pages, wall seconds, seconds between open and close)."""
    out = tmp / "bare.json"
    env = crawl_env()
    env.pop("SCRAPY_SETTINGS_MODULE", None)  # only the spider's own settings
    cmd = [sys.executable, "-m", "scrapy", "runspider", str(ROOT / "bench" / "bare_spider.py"),
           "-a", f"start={','.join(start_urls)}", "-a", f"out={out}", "-a", f"allow={allow}"]
    began = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=tmp, check=True, capture_output=True)
    wall = time.perf_counter() - began
    data = json.loads(out.read_text())
    return data["pages"], wall, data["seconds"]


def ours(config_dir: Path, source_ids: list[str], dry_run: bool) -> tuple[int, float, float]:
    """run_crawl each source in turn; (pages, wall seconds, spider-measured seconds)."""
    config = load_config(config_dir)
    pages, wall, inner = 0, 0.0, 0.0
    for source_id in source_ids:
        result = run_crawl(config, source_id, dry_run=dry_run, timeout=600)
        if result.status != "ok":
            raise SystemExit(f"{source_id}: {result.status}: {result.message}")
        pages += result.report["pages"]
        wall += result.seconds
        inner += result.report["seconds"]
    return pages, wall, inner


def median_run(fn, repeat: int) -> dict:
    """Median pages, wall and inner seconds over ``repeat`` runs of ``fn``."""
    runs = [fn() for _ in range(repeat)]
    pages = statistics.median(r[0] for r in runs)
    wall = statistics.median(r[1] for r in runs)
    inner = statistics.median(r[2] for r in runs)
    return {"pages": pages, "wall": wall, "inner": inner, "rate": pages / wall,
            "inner_rate": pages / inner if inner else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", type=Path, help="also write the Markdown to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp_name:
        tmp = Path(tmp_name)
        info = build_site(tmp / "site", seed=7)
        with serve_site(tmp / "site") as base:
            sources = demo_sources(base)
            ids = [s.id for s in sources]
            starts = [s.url for s in sources]
            counter = iter(range(10_000))

            def real():
                config_dir = tmp / f"real{next(counter)}"  # a fresh store: inserts, not no-ops
                write_config(config_dir, sources=sources, disabled=["sentiment_snownlp"])
                return ours(config_dir, ids, dry_run=False)

            dry_dir = tmp / "dry"
            write_config(dry_dir, sources=sources, disabled=["sentiment_snownlp"])
            rows = [
                ("baseline: bare Scrapy, 1 process, 3 start URLs",
                 median_run(lambda: bare(starts, tmp, ",".join(SECTIONS.values())),
                            args.repeat)),
                ("baseline: bare Scrapy, 1 process per source",
                 median_run(lambda: _per_source(sources, tmp), args.repeat)),
                ("run_crawl dry run (3 sources, no store)",
                 median_run(lambda: ours(dry_dir, ids, dry_run=True), args.repeat)),
                ("run_crawl real (3 sources, store + topics + risk)",
                 median_run(real, args.repeat)),
            ]
    text = _markdown(rows, info, args.repeat)
    print(text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")


def _per_source(sources: list, tmp: Path) -> tuple[int, float, float]:
    total = [bare([s.url], tmp, SECTIONS.get(s.id, "/")) for s in sources]
    return sum(t[0] for t in total), sum(t[1] for t in total), sum(t[2] for t in total)


def _markdown(rows: list, info, repeat: int) -> str:
    base_same = rows[1][1]["rate"]
    base_one = rows[0][1]["rate"]
    base_inner = rows[1][1]["inner_rate"]
    lines = [
        "# Benchmarks: crawling", "",
        "Command: `PYTHONPATH=. python bench/bench_crawl.py --repeat "
        f"{repeat} --write docs/benchmarks-crawl.md`", "",
        f"Demo site (`monitor.demo.site.build_site`, seed 7): {info.pages} files — "
        f"{info.news} articles, {info.messages} letters (GBK), {info.feed_items} feed items — "
        "served on 127.0.0.1 by `monitor.localsite`.  "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs.  Medians of {repeat} runs; every crawl is a subprocess.", "",
        "| run | pages | wall s | pages/s (wall) | vs bare, same processes | vs bare, 1 process |"
        " crawl s (spider) | pages/s (spider) | vs bare (spider) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in rows:
        lines.append(f"| {label} | {r['pages']:.0f} | {r['wall']:.2f} | {r['rate']:.0f} | "
                     f"{r['rate'] / base_same:.2f}× | {r['rate'] / base_one:.2f}× | "
                     f"{r['inner']:.2f} | {r['inner_rate']:.0f} | "
                     f"{r['inner_rate'] / base_inner:.2f}× |")
    lines += [
        "", "Reading the table:", "",
        "- *wall* includes each subprocess's start-up (Python, Scrapy, the monitor's imports: "
        "about a second per source on this machine), which dominates on a site this small;",
        "- *crawl s (spider)* is the time between the spider opening and closing (the run "
        "report's `seconds`; for the bare spider, its own open/close signals), so the per-page "
        "cost of parsing, the report and the store shows there, without start-up;",
        "- the bare spider counts every response it follows, so its page total differs a little "
        "from the generic spiders' (which stop at `max_pages` and do not fetch pager duplicates);",
        "- the real crawls' extra time is mostly the topics plugin starting inside each crawl "
        "subprocess (jieba's dictionary, POS table and TF-IDF table: about 2.5–3.5 s per process "
        "under cProfile, paid by the first document), not per-page work; the embedded store's "
        "writes took about 0.26 s for 150 articles in the same profile.  Ingesting in a "
        "long-running parent process that keeps the plugins loaded would remove that cost.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
