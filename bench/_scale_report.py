"""The Markdown report of bench_store_scale.py (tables of inserts, searches and goals)."""
from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
from pathlib import Path
from typing import Any


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def ms(value: float) -> str:
    """Milliseconds: one decimal below 10, whole numbers above."""
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def summary(times: list[float], capped: bool = False) -> str:
    """``p50 / p95 / max`` in ms (``≥`` before the max when a run hit the guard)."""
    return (f"{ms(pct(times, .5))} / {ms(pct(times, .95))} / {'≥ ' if capped else ''}"
            f"{ms(max(times, default=0))}")


def _git(tree: Path, *cmd: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(tree), *cmd], capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def tree_description(package: Path) -> tuple[Path, str, bool]:
    """The tree holding ``package``, its commit and whether its monitor/ has changes."""
    tree = package.resolve().parent
    sha = _git(tree, "rev-parse", "HEAD") or "unknown"
    dirty = bool(_git(tree, "status", "--porcelain", "--", "monitor"))
    return tree, sha, dirty


def machine() -> str:
    """CPU, cores, memory, OS, Python and SQLite versions."""
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    mem = first("/proc/meminfo", "MemTotal")
    gib = f"{int(mem.split()[0]) / 2**20:.0f} GiB" if mem != "?" else "? GiB"
    return (f"{first('/proc/cpuinfo', 'model name')}, {os.cpu_count()} cores, {gib}; "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}")


def _classes(runs: list[Any]) -> list[str]:
    return list(dict.fromkeys(r.cls for r in runs))


def report(args: argparse.Namespace, main: dict | None, big: dict | None, info: dict) -> list[str]:
    """The Markdown section for this run."""
    tree, sha, dirty = tree_description(info["package"])
    out = [f"## {args.heading or f'Run of commit {sha[:10]}' + (' + changes' if dirty else '')}",
           "", f"Command: `{info['command']}`", "",
           f"- monitor imported from `{tree}` (commit `{sha}`"
           f"{', with uncommitted changes in monitor/' if dirty else ''}).",
           f"- Date: {info['date']}; wall time {info['wall_s'] / 60:.1f} min; load average "
           f"{info['load'][0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end.",
           f"- Machine: {machine()}. Other people run tests on it at the same time: figures are "
           "noisy; read them beside the baselines measured in the same run.",
           f"- Corpus: {info['n_texts']:,} real texts ({info['sets']}) cycled with small "
           f"variations; {info['chars']:.0f} characters per document on average; published_at "
           + ("over one year in the order they are inserted (± 2 days), as a year of crawling "
              "brings them; " if getattr(args, "order", "random") == "chronological" else
              "uniform over one year in random order (the worst case for the time indexes); ")
           + f"{info['messages']:.0%} messages. Peak RSS before the store was opened (texts and "
           f"jieba loaded): {info['rss0']:,.0f} MB.", ""]
    if main:
        out += _main_tables(main)
    if big:
        out += _big_tables(big)
    return out


def _main_tables(main: dict) -> list[str]:
    cps: list[Any] = main["checkpoints"]
    out = ["### Inserts (`put_many`, batches of 1,000)", "",
           "| documents | put_many docs/s | per CPU second | slowest batch ms "
           "| plain executemany docs/s | put_many time ÷ plain time "
           "| of which: prepare docs/s | write (lock held) docs/s |",
           "|---|---|---|---|---|---|---|---|"]
    tot = [0, 0.0, 0.0, 0.0, 0.0, 0.0]

    def rate(n: int, seconds: float) -> str:
        return f"{n / seconds:,.0f}" if seconds else "—"

    for a, b, s, p, worst, cpu, *halves in main["segments"]:
        prep, write = (halves + [0.0, 0.0])[:2]
        out.append(f"| {a:,}–{b:,} | {(b - a) / s:,.0f} | {(b - a) / cpu:,.0f} | {worst:,.0f} "
                   f"| {(b - a) / p:,.0f} | {s / p:.1f} | {rate(b - a, prep)} "
                   f"| {rate(b - a, write)} |")
        tot = [tot[0] + b - a, tot[1] + s, tot[2] + p, tot[3] + cpu, tot[4] + prep,
               tot[5] + write]
    if tot[0]:
        out.append(f"| **all {tot[0]:,}** | **{tot[0] / tot[1]:,.0f}** | {tot[0] / tot[3]:,.0f} "
                   f"| | {tot[0] / tot[2]:,.0f} | {tot[1] / tot[2]:.1f} "
                   f"| {rate(tot[0], tot[4])} | {rate(tot[0], tot[5])} |")
    out += ["", "Time inside `put_many` only: documents are built (and the plain rows serialised) "
            "before the timer starts; jieba is loaded before the first batch. \"Per CPU "
            "second\" divides by the process's CPU time instead of the wall clock: it moves less "
            "when other jobs share the two cores.", "",
            "### Search at each checkpoint", "",
            f"{main['n_queries']} queries, 1 warm-up + {main['repeat']} timed runs each; "
            "p50 / p95 / max in ms over every timed run. Reference: a brute-force "
            "`LIKE '%投诉%'` count over the plain table's JSON bodies (no index), same run.", "",
            "| documents | search p50 / p95 / max | CPU ms p50 / p95 / max "
            "| slowest queries (max ms) | LIKE scan ms | p95 ÷ scan | db + wal MB "
            "| plain table MB | peak RSS MB | load |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for cp in cps:
        times = [t for r in cp.runs for t in r.times]
        slow = sorted(cp.runs, key=lambda r: -max(r.times, default=0))[:3]
        cpu = [t for r in cp.runs for t in r.cpu]
        out.append(f"| {cp.docs:,} | {summary(times, any(r.capped for r in cp.runs))} | "
                   f"{summary(cpu)} | "
                   + ", ".join(f"{r.name} ({ms(max(r.times, default=0))})" for r in slow)
                   + f" | {ms(cp.scan_ms)} | {pct(times, .95) / cp.scan_ms:.2f} "
                   f"| {cp.db_mb:,.0f} + {cp.wal_mb:,.0f} | {cp.plain_mb:,.0f} | {cp.rss:,.0f} "
                   f"| {cp.load:.1f} |")
    for cp in cps:
        if cp.stopped:
            out.append(f"\n**Stopped at {cp.docs:,}:** {cp.stopped}.")
        if cp.stored is not None and cp.stored != cp.docs:
            out.append(f"\n**count() at {cp.docs:,} says {cp.stored:,}.**")
    out += ["", "Per class (p50 / p95 / max ms):", "",
            "| class | queries | " + " | ".join(f"{cp.docs:,}" for cp in cps) + " |",
            "|---|---|" + "---|" * len(cps)]
    for cls in _classes(cps[0].runs):
        cells = [summary([t for r in cp.runs if r.cls == cls for t in r.times],
                         any(r.capped for r in cp.runs if r.cls == cls)) for cp in cps]
        count = sum(r.cls == cls for r in cps[0].runs)
        out.append(f"| {cls} | {count} | " + " | ".join(cells) + " |")
    out += ["", "Per query (total hits · median ms · max ms · median CPU ms):", "",
            "| class | query | " + " | ".join(f"{cp.docs:,}" for cp in cps) + " |",
            "|---|---|" + "---|" * len(cps)]
    for i, run in enumerate(cps[0].runs):
        cells = []
        for cp in cps:
            r = cp.runs[i] if i < len(cp.runs) else None
            if r is None:
                cells.append("—")
            elif r.error:
                cells.append(f"error: {r.error}")
            else:
                cells.append(f"{r.total:,} · {ms(pct(r.times, .5))} · {ms(max(r.times))} · "
                             f"{ms(pct(r.cpu, .5))}"
                             + (f" · {r.notes} notes" if r.notes else ""))
        out.append(f"| {run.cls} | {run.name} | " + " | ".join(cells) + " |")
    names = list(cps[0].aggs) if cps[0].aggs else []
    if names:
        out += ["", "Aggregations over everything (median ms):", "",
                "| documents | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        out += [f"| {cp.docs:,} | " + " | ".join(ms(cp.aggs.get(n, float("nan")))
                                                for n in names) + " |" for cp in cps]
    return out + [""] + _goals(main)


def _goals(main: dict) -> list[str]:
    cp = main["checkpoints"][-1]
    times = [t for r in cp.runs for t in r.times]
    rates = [(b - a) / s for a, b, s, *_ in main["segments"]]
    writes = [(seg[1] - seg[0]) / seg[7] for seg in main["segments"] if len(seg) > 7 and seg[7]]
    worst_query = max((max(r.times, default=0), r.name) for r in cp.runs)
    cpu = [t for r in cp.runs for t in r.cpu]
    rows = [("search p95 ≤ 50 ms", f"{ms(pct(times, .95))} ms (CPU {ms(pct(cpu, .95))} ms)",
             pct(times, .95) <= 50),
            ("every query ≤ 200 ms", f"max {ms(worst_query[0])} ms ({worst_query[1]})",
             worst_query[0] <= 200),
            ("inserts ≥ 5,000 docs/s to the end",
             f"{rates[-1]:,.0f} docs/s in the last segment, {min(rates):,.0f} in the slowest",
             min(rates) >= 5000),
            *([("store writes (lock held) ≥ 5,000 docs/s to the end",
                f"{writes[-1]:,.0f} docs/s in the last segment, {min(writes):,.0f} in the slowest",
                min(writes) >= 5000)] if writes else []),
            ("file ≤ 1 GB", f"{cp.db_mb + cp.wal_mb:,.0f} MB", cp.db_mb + cp.wal_mb <= 1024),
            ("peak RSS ≤ 400 MB", f"{cp.rss:,.0f} MB", cp.rss <= 400)]
    out = [f"Goals of issue 6 at {cp.docs:,} documents:", "", "| goal | measured | met |",
           "|---|---|---|"]
    return out + [f"| {g} | {v} | {'yes' if ok else '**no**'} |" for g, v, ok in rows] + [""]


def _big_tables(big: dict) -> list[str]:
    out = [f"### {big['base']:,} documents plus ten 10 MB documents", "",
           f"The {big['base']:,} documents were inserted in {big['insert_s']:.1f} s "
           f"({big['base'] / big['insert_s']:,.0f} docs/s). Then ten generated public lists "
           "(five 道路改造 补偿 公示, five 低保 发放名册: rows of names, amounts, 群众 …) were "
           "added one `put_many` each:", "", "| document | MB | put_many s | error |",
           "|---|---|---|---|"]
    for title, size, took, error in big["big_inserts"]:
        out.append(f"| {title} | {size / 2**20:.1f} | {took / 1000:,.1f} | {error or ''} |")
    out += ["", "| store | queries answered | search p50 / p95 / max ms | CPU ms p50 / p95 / max "
            "| answers with notes |", "|---|---|---|---|---|"]
    for label, runs in (("without the big documents", big["without"]),
                        ("with the ten 10 MB documents", big["with"])):
        ok = [r for r in runs if not r.error]
        times = [t for r in runs for t in r.times]
        capped = any(r.capped for r in runs)
        out.append(f"| {label} | {len(ok)} of {big['n_queries']} | "
                   f"{summary(times, capped) if times else '—'} | "
                   f"{summary([t for r in runs for t in r.cpu]) if times else '—'} | "
                   f"{sum(r.notes for r in runs)} |")
    for key in ("stopped_without", "stopped"):
        if big.get(key):
            out.append(f"\n**Stopped:** {big[key]}. The rest of this scenario was not run.")
    if big["with"] and big["without"]:
        p95 = [pct([t for r in rs for t in r.times], .95) for rs in (big["without"], big["with"])]
        if big["stopped"] is None:
            out.append(f"\np95 with ÷ p95 without: {p95[1] / max(p95[0], 1e-9):.2f} (goal ≤ 2); "
                       "max with: compare with the store's search time limit.")
    out += ["", "Per query, without → with (median ms; hits):", "", "| query | without | with |",
            "|---|---|---|"]
    with_runs = {r.name: r for r in big["with"]}
    for r in big["without"]:
        w = with_runs.get(r.name)
        right = ("not run" if w is None else f"**{w.error}**" if w.error else
                 f"{ms(pct(w.times, .5))}; {w.total:,}")
        left = f"**{r.error}**" if r.error else f"{ms(pct(r.times, .5))}; {r.total:,}"
        out.append(f"| {r.name} | {left} | {right} |")
    return out + ["", f"Files: {big['db_mb']:,.0f} MB + {big['wal_mb']:,.0f} MB wal. Peak RSS "
                      f"of the process after this scenario: {big['rss']:,.0f} MB.", ""]


INTRO = """# Benchmarks: the embedded store at scale

`bench/bench_store_scale.py` builds a store of up to 1,000,000 documents from copies of real
posts, board messages, letters, 12345 work orders and news titles (`../shared/data`), inserting
in batches of 1,000, and measures at 100,000 / 300,000 / 1,000,000 documents: insert rate per
segment of 100,000, search p50 / p95 / max over a fixed query set (single words common and
rare, two-character words, phrases, AND, OR, text + filters, filters only, sort by risk and by
newest, a deep page at offset 1000), aggregations, file size and peak RSS. A second scenario
searches a 100,000-document store without and then with ten 10 MB documents. Baselines are
measured in the same run (plain `executemany` into a table without secondary indexes or FTS;
a brute-force `LIKE` scan), because the machine is shared and noisy.

`monitor` is imported from PYTHONPATH (or `--root`), so the same script measures any tree:
`PYTHONPATH=<tree> python bench/bench_store_scale.py --write docs/benchmarks-store-scale.md
--append --heading "After (…)"` adds a section to this file.
"""

