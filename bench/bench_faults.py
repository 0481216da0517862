"""Fault tally: the whole hostile corpus of tests/faults, and what became of every input.

    PYTHONPATH=. python bench/bench_faults.py [--seed 6] [--write docs/benchmarks-faults.md]

In one run, from one seed (see tests/faults/hostile*.py for the inputs):

* the web corpus through the real spiders on a loopback server — a news list, a 信箱, a feed and
  a 12345 API with hundreds of bad pages, entries and records each, five 10 MB pages, and every
  broken feed and API page as a site of its own (real crawls into a store; the one-page sites
  are dry runs);
* every hostile ``sources/*.toml`` and ``monitor.toml`` through ``load_config``;
* hostile documents (engagement counts, script and SQL, control characters, odd dates) through
  the ingest pipeline into a small store;
* every hostile query through ``EmbeddedStore.search`` on that store, and a set of them on the
  crawl store, which holds the 10 MB documents.

Outcomes are counted, not timed, except the searches: their times are shown against ordinary
queries on the same store (the baseline), with the store's own time limit for reference.
Goals: 0 crashes, 0 inputs lost (neither stored nor counted), 0 pages stored without their
words, every search answering.
"""
from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "faults")]

import _hostile_checks as checks  # noqa: E402
import _hostile_run as run  # noqa: E402
from _hostile_server import HostileServer  # noqa: E402
from hostile_local import documents, queries, source_files  # noqa: E402
from monitor.app import Monitor  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.starter import write_config  # noqa: E402
from monitor.store import open_store  # noqa: E402


def crawl_corpus(tmp: Path, seed: int) -> tuple[list, float, Path]:
    """Crawl every site; (site checks, seconds, config dir)."""
    began = time.perf_counter()
    with HostileServer() as server:
        sites = run.build_sites(server, seed, full=True)
        config_dir = run.write_corpus_config(tmp / "crawl", sites, tmp / "logs",
                                             log_level="DEBUG")  # to say what became of each
        results = run.run_sites(config_dir, sites)
    store = open_store(load_config(config_dir).store)
    try:
        done = [run.check_site(site, results[site.source.id],
                               {} if site.dry_run else run.stored_by_tag(store, site.source.id),
                               run.log_path(tmp / "logs", site.source.id)) for site in sites]
    finally:
        store.close()
    return done, time.perf_counter() - began, config_dir


def loader_tally(tmp: Path, seed: int) -> tuple[Counter, list[str], list[str]]:
    """Source files and monitor.toml variants: (fates by kind, crashes, wrong fates)."""
    cases = source_files(random.Random(seed))
    crashes, wrong = [], []
    tally: Counter = Counter()
    try:
        config = checks.load_source_files(tmp / "sources-config", cases)
        fates = checks.source_fates(cases, config)
    except Exception as exc:  # noqa: BLE001 - a crash is what this counts
        crashes.append(f"load_config: {type(exc).__name__}: {exc}"[:200])
        fates = {c.name: ("crash", "") for c in cases}
    for case in cases:
        fate = fates[case.name][0]
        tally[("source file", case.kind, fate)] += 1
        if fate == "missing":
            crashes.append(f"{case.name}: neither loaded nor reported")
        elif case.expect and fate != case.expect:
            wrong.append(f"{case.kind} {case.name}: {fate}, expected {case.expect}")
    try:
        for kind, expect, fate, _ in checks.main_file_fates(tmp / "main"):
            tally[("monitor.toml", kind, fate)] += 1
            if expect and fate != expect:
                wrong.append(f"monitor.toml {kind}: {fate}, expected {expect}")
    except Exception as exc:  # noqa: BLE001
        crashes.append(f"monitor.toml: {type(exc).__name__}: {exc}"[:200])
    return tally, crashes, wrong


def ingest_tally(tmp: Path, seed: int) -> tuple[Monitor, Counter, list[str], Counter]:
    """Hostile documents into a small store: (monitor, outcomes by kind, crashes, failures)."""
    root = tmp / "docs" / "config"
    write_config(root, sources=[], disabled=["sentiment_snownlp"])
    monitor = Monitor(load_config(root))
    cases = documents(random.Random(seed))
    clean = [c for c in cases if c.kind != "lone surrogates"]
    tally: Counter = Counter()
    crashes: list[str] = []
    pairs, stats = checks.ingest_documents(monitor, clean)
    for case, doc in pairs:
        stored = monitor.store.get(doc.id)
        tally[(case.kind, "stored" if stored else "skipped")] += 1
    surrogates = [c for c in cases if c.kind == "lone surrogates"]
    try:  # in a batch of their own, with one good document
        pairs, _ = checks.ingest_documents(monitor, surrogates + clean[:1], batch_size=100,
                                           first=900)
        for case, doc in pairs[:len(surrogates)]:
            tally[(case.kind, "stored" if monitor.store.get(doc.id) else "skipped")] += 1
    except Exception as exc:  # noqa: BLE001
        crashes.append(f"ingest: a batch with a lone surrogate: {type(exc).__name__}: "
                       f"{str(exc)[:120]}")
        tally[("lone surrogates", "batch lost")] += len(surrogates)
    return monitor, tally, crashes, Counter(stats.plugin_failures)


def search_tally(store, items: list[tuple[str, str]]) -> list[checks.SearchOutcome]:
    """Every query on ``store``, timed."""
    return [checks.search(store, kind, text) for kind, text in items]


def _known_cause(check) -> str:
    """Why a crawl's count falls short, when the shortfall is the known one."""
    back = sum(1 for c in check.site.cases if c.extra.get("route") in ("self", "two-step"))
    short = len(check.site.cases) - check.site.repeats - check.accounted
    if back and short == back:
        return (f" — the {back} redirects back to a page already requested: Scrapy's duplicate "
                "filter drops them and nothing counts them (signals.request_dropped)")
    return ""


def _ms(values: list[float]) -> str:
    if not values:
        return "–"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"{statistics.median(ordered) * 1000:.1f} / {p95 * 1000:.1f} / {ordered[-1] * 1000:.1f}"


def _reasons(counter: dict, limit: int = 4) -> str:
    items = sorted(counter.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{k} ×{v}" for k, v in items[:limit])
    return shown + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


def report(seed: int, crawl: list, crawl_seconds: float, loader: tuple, ingest: tuple,
           small: list, big: list, command: str) -> str:
    """The benchmark page (markdown)."""
    loader_counts, loader_crashes, loader_wrong = loader
    _, doc_counts, doc_crashes, plugin_failures = ingest
    web_inputs = sum(len(c.site.cases) for c in crawl)
    crashes = [f"{c.site.source.id}: {x}" for c in crawl for x in c.crashes]
    crashes += loader_crashes + doc_crashes
    crashes += [f"search {o.text[:40]!r}: {o.crash}" for o in small + big if o.crash]
    lost = [x + _known_cause(c) if x.startswith(c.site.source.id + ":") else x
            for c in crawl for x in c.lost]
    wrong = [x for c in crawl for x in c.wrong] + loader_wrong
    searches = small + big
    n_files = sum(v for k, v in loader_counts.items() if k[0] == "source file")
    n_main = sum(v for k, v in loader_counts.items() if k[0] == "monitor.toml")
    n_docs = sum(doc_counts.values())
    total = web_inputs + n_files + n_main + n_docs + len(small)
    lines = [
        "# Fault tally: the hostile corpus", "",
        f"Command: `{command}` (seed {seed}), on {platform.node() or 'this machine'} "
        f"({run.environment_note()}, {platform.platform(terse=True)}), "
        f"{datetime.now(timezone.utc):%Y-%m-%d}. The inputs are generated by "
        "`tests/faults/hostile*.py`; the tests run the same corpus (fewer one-page sites and "
        "10 MB pages) in `tests/faults/test_hostile_*.py`.", "",
        "## Summary", "",
        "| What | Inputs | Goal | Result |", "|---|---|---|---|",
        f"| Web inputs through the real spiders ({len(crawl)} crawls, {crawl_seconds:.0f} s) "
        f"| {web_inputs} | | |",
        f"| Source files (`sources/*.toml`) through `load_config` | {n_files} | | |",
        f"| `monitor.toml` variants | {n_main} | | |",
        f"| Documents through the ingest pipeline | {n_docs} | | |",
        f"| Queries on a small store (+ {len(big)} on the crawl store) | {len(small)} | | |",
        f"| **All inputs** | **{total}** | | |",
        f"| Crashes (exit code, fatal, traceback, exception while reading, hang) | | 0 | "
        f"**{len(crashes)}** |",
        f"| Inputs lost (neither stored nor counted) | | 0 | **{len(lost)}** |",
        f"| Stored without their words, or refused/accepted against expectation | | 0 | "
        f"**{len(wrong)}** |",
        f"| Searches answering (a result, or a one-line refusal) | {len(searches)} | all | "
        f"**{sum(1 for o in searches if not o.crash)}** |",
        f"| Slowest search (ms) | | ≤ time limit | **{max(o.seconds for o in searches) * 1000:.0f}"
        f"** ({max(searches, key=lambda o: o.seconds).text[:30]!r}) |", "",
    ]
    caught = Counter(x for c in crawl for x in c.caught)
    if caught:
        lines += ["Exceptions caught inside the crawl and logged only at DEBUG level (not "
                  "crashes; each is a place that needs a bound): "
                  + "; ".join(f"`{k}` ×{v}" for k, v in caught.most_common(5)) + ".", ""]
    if crashes or lost or wrong:
        lines += ["## What still fails", ""]
        lines += [f"- crash: {x}" for x in crashes]
        lines += [f"- lost: {x}" for x in lost]
        lines += [f"- wrong: {x}" for x in wrong[:30]]
        lines.append("")
    lines += ["## Web inputs by kind", "",
              "Stored = a document in the store (for the one-page sites, dry runs: what the "
              "crawl read). A skip or error is named from the run report's notes when they "
              "name the input (the first 50 notes of a crawl), else from the crawl's debug "
              "log; the per-crawl table below has the report's own counts.", "",
              "| Kind | Inputs | Stored | Not stored: outcome |", "|---|---|---|---|"]
    kinds = run.tally(crawl)
    for kind in sorted(kinds, key=lambda k: -sum(kinds[k].values())):
        counter = kinds[kind]
        others = {k: v for k, v in counter.items() if k != "stored"}
        lines.append(f"| {kind} | {sum(counter.values())} | {counter.get('stored', 0)} | "
                     f"{_reasons(others) or '–'} |")
    lines += ["", "## Crawls", "",
              "| Source | Unit | Inputs | Status | Items | Skipped (reasons) | Errors (kinds) |",
              "|---|---|---|---|---|---|---|"]
    for c in crawl:
        r = c.result.report
        lines.append(f"| {c.site.source.id} | {c.site.unit} | {len(c.site.cases)} | "
                     f"{c.result.status} | {r.get('items', 0)} | {r.get('skipped', 0)} "
                     f"({_reasons(r.get('skip_reasons') or {}, 3) or '–'}) | {r.get('errors', 0)} "
                     f"({_reasons(r.get('error_kinds') or {}, 3) or '–'}) |")
    lines += ["", "## Source files and monitor.toml", "",
              "| File | Kind | Accepted | Refused (one-line ConfigError) |", "|---|---|---|---|"]
    groups = sorted({(k[0], k[1]) for k in loader_counts})
    for group, kind in groups:
        lines.append(f"| {group} | {kind} | {loader_counts.get((group, kind, 'accept'), 0)} | "
                     f"{loader_counts.get((group, kind, 'reject'), 0)} |")
    lines += ["", "## Documents through the ingest pipeline", "",
              "| Kind | Stored | Skipped with a reason | Batch lost |", "|---|---|---|---|"]
    for kind in sorted({k for k, _ in doc_counts}):
        lines.append(f"| {kind} | {doc_counts.get((kind, 'stored'), 0)} | "
                     f"{doc_counts.get((kind, 'skipped'), 0)} | "
                     f"{doc_counts.get((kind, 'batch lost'), 0)} |")
    if plugin_failures:
        lines += ["", f"Plugin failures (counted, documents stored anyway): "
                      f"{_reasons(plugin_failures)}."]
    lines += ["", "## Searches", "",
              "Times are p50 / p95 / max in ms; the baseline is ordinary one-word queries on "
              "the same store. The store's time limit is `search_timeout_seconds` (10 s).", "",
              "| Store | Queries | p50 / p95 / max (ms) | Baseline p50 / p95 / max | Refused | "
              "Crashed | Partial (time limit) |", "|---|---|---|---|---|---|---|"]
    for name, outcomes in (("small (hostile documents)", small),
                           ("crawl store (with the 10 MB pages)", big)):
        base = [o.seconds for o in outcomes if o.kind == "ordinary"]
        hostile = [o.seconds for o in outcomes if o.kind != "ordinary"]
        partial = sum(1 for o in outcomes if o.result is not None and o.result.notes)
        lines.append(f"| {name} | {len(outcomes)} | {_ms(hostile)} | {_ms(base)} | "
                     f"{sum(1 for o in outcomes if o.refusal)} | "
                     f"{sum(1 for o in outcomes if o.crash)} | {partial} |")
    lines += ["", "Slowest five:", ""]
    for o in sorted(searches, key=lambda o: -o.seconds)[:5]:
        lines.append(f"- {o.seconds * 1000:.0f} ms — {o.kind}: {o.text[:50]!r}")
    by_kind = Counter(o.kind for o in small)
    lines += ["", "Query kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run everything, print the page, and write it with --write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--write", type=Path, help="write the markdown page here")
    args = parser.parse_args()
    command = "PYTHONPATH=. python bench/bench_faults.py" + (
        f" --seed {args.seed}" if args.seed != 6 else "") + (
        f" --write {args.write}" if args.write else "")
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as name:
        tmp = Path(name)
        print("crawling the web corpus …", flush=True)
        crawl, seconds, config_dir = crawl_corpus(tmp, args.seed)
        print("source files, documents, queries …", flush=True)
        loader = loader_tally(tmp, args.seed)
        ingest = ingest_tally(tmp, args.seed)
        items = queries(random.Random(args.seed))
        small = search_tally(ingest[0].store, items)
        ingest[0].close()
        picks = [q for q in items if q[0] in ("ordinary", "fts5 syntax", "size", "sql")]
        crawl_store = open_store(load_config(config_dir).store)
        try:
            big = search_tally(crawl_store, picks)
        finally:
            crawl_store.close()
    page = report(args.seed, crawl, seconds, loader, ingest, small, big, command)
    print(page)
    if args.write:
        args.write.write_text(page, encoding="utf-8")
        print(f"written to {args.write}")


if __name__ == "__main__":
    main()
