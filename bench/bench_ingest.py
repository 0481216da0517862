"""Ingest throughput: documents/s through the full pipeline, with and without plugins.

    python bench/bench_ingest.py [--docs 10000]

Baseline (same run, same documents): the pipeline with no analysis plugins (store only).
Then the built-in plugins without snownlp, then all built-in plugins.  Prints a Markdown table.
Models (jieba's dictionary, snownlp, the plugins' tables) are loaded before each timer starts.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._data import board_messages, warm, weibo_posts  # noqa: E402
from monitor.app import Monitor  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.plugins import DEFAULT_PLUGINS, PluginManager  # noqa: E402
from monitor.starter import write_config  # noqa: E402


def run(label: str, docs, builtins: dict[str, str]) -> dict:
    """Ingest ``docs`` into a fresh store with the given built-in plugins."""
    with tempfile.TemporaryDirectory() as tmp:
        write_config(Path(tmp), sources=[])
        config = load_config(tmp)
        plugins = PluginManager(entry_points=False, builtins=builtins)
        with Monitor(config, plugins=plugins) as monitor:
            for doc in docs:  # fresh copies: the pipeline fills analysis in place
                doc.analysis, doc.risk, doc.risk_reasons = {}, None, []
            warm(monitor)  # every model (jieba, snownlp, the plugins' tables) before the timer
            start = time.perf_counter()
            stats = monitor.ingest(docs)
            seconds = time.perf_counter() - start
    return {"label": label, "docs": stats.received, "stored": stats.stored,
            "seconds": seconds, "rate": stats.received / seconds,
            "failures": sum(stats.plugin_failures.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=10_000, help="Weibo posts (plus ~500 "
                        "message-board letters)")
    args = parser.parse_args()
    docs = weibo_posts(args.docs) + board_messages()
    store_only = {"store_embedded": DEFAULT_PLUGINS["store_embedded"]}
    no_snownlp = {k: v for k, v in DEFAULT_PLUGINS.items() if k != "sentiment_snownlp"}
    results = [run("baseline: store only, no plugins", docs, store_only),
               run("built-ins without snownlp (topics, risk)", docs, no_snownlp),
               run("all built-ins (snownlp, topics, risk)", docs, dict(DEFAULT_PLUGINS))]
    base = results[0]["rate"]
    print(f"{len(docs)} real documents (NLPCC 2013 Weibo posts + TipDM 2020 board letters)\n")
    print("| run | docs | seconds | docs/s | vs baseline | plugin failures |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['label']} | {r['docs']} | {r['seconds']:.1f} | {r['rate']:.0f} | "
              f"{r['rate'] / base:.3f}× | {r['failures']} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the whole run: {peak:.0f} MB")


if __name__ == "__main__":
    main()
