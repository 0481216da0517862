"""Benchmark of the embedded store at 100,000 / 300,000 / 1,000,000 documents (issue 6).

Builds N documents (default 1,000,000) from copies of real posts, board messages, letters,
12345 work orders and news titles in ``../shared/data`` (deterministic, seeded), inserts them
with ``put_many`` in batches of 1,000 and reports, in the same run:

* the insert rate per segment of 100,000 documents, beside plain ``executemany`` of the same
  rows into a narrow SQLite table (primary key only, no secondary index, no FTS);
* at each checkpoint: p50 / p95 / max of a fixed query set (each query 1 warm-up + 5 timed
  runs), per class and per query, aggregations over everything, file size (db + wal), peak
  RSS, and a brute-force ``LIKE`` scan of the plain table as a reference for ratios;
* a second scenario: a 100,000-document store, then the same store plus ten 10 MB documents
  (公示 and 低保 lists), searched with the same set.

Only the public store API is used (plus ``conn.interrupt()`` by the per-query guard, when
the store has one).  Every search runs in a worker thread and is given at most ``--guard``
seconds; past that the scenario stops with a note, so the benchmark cannot hang.
``monitor`` is imported from ``--root`` or PYTHONPATH (not from this folder), so the same
script measures another tree, e.g. a worktree of an older commit::

    PYTHONPATH=/tmp/baseline-wt python bench/bench_store_scale.py \
        --write docs/benchmarks-store-scale.md
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable


def _root_argument() -> str | None:
    for i, arg in enumerate(sys.argv):
        if arg == "--root" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if arg.startswith("--root="):
            return arg.split("=", 1)[1]
    return None


if _root_argument():  # before anything imports monitor
    sys.path.insert(0, str(Path(_root_argument()).resolve()))

sys.path.append(str(Path(__file__).resolve().parent))  # bench/ helpers; monitor comes first

import monitor  # noqa: E402
from monitor import textseg  # noqa: E402
from monitor.documents import Document  # noqa: E402
from monitor.store import SearchQuery, StoreConfig  # noqa: E402
from monitor.store.embedded import EmbeddedStore  # noqa: E402

from _data import SHARED_DATA  # noqa: E402
from _scale_corpus import NOW, Corpus, Text, big_document, load_texts, query_set  # noqa: E402
from _scale_report import INTRO, pct, report, summary  # noqa: E402

BATCH = 1000
GRACE_S = 15.0  # how long an interrupted search may take to give up

# ---------------------------------------------------------------------------------------------
# Queries, timing and the guard
# ---------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one guarded call did."""

    ms: float = 0.0
    cpu_ms: float = 0.0  # CPU time of the process meanwhile: less sensitive to a busy machine
    value: Any = None
    error: str | None = None
    exceeded: bool = False
    fate: str = ""


def guarded(call: Callable[[], Any], cap_s: float, store: Any = None) -> Outcome:
    """Run ``call`` in a worker thread, timed there; give up after ``cap_s`` seconds."""
    out = Outcome()

    def work() -> None:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            out.value = call()
        except Exception as exc:  # noqa: BLE001 - reported in the table
            out.error = f"{type(exc).__name__}: {exc}"
        out.ms = (time.perf_counter() - start) * 1000
        out.cpu_ms = (time.process_time() - cpu) * 1000

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(cap_s)
    if worker.is_alive():
        out.exceeded = True
        try:
            store.conn.interrupt()
        except Exception:  # noqa: BLE001 - no connection to interrupt: just wait
            pass
        worker.join(GRACE_S)
        out.fate = (f"interrupted, returned after {out.ms / 1000:.0f} s" if not worker.is_alive()
                    else f"still running {cap_s + GRACE_S:.0f} s after it started; abandoned")
    return out


@dataclass
class QueryRun:
    """Timed runs of one query."""

    cls: str
    name: str
    times: list[float] = field(default_factory=list)  # wall-clock ms
    cpu: list[float] = field(default_factory=list)  # CPU ms of the same runs
    total: int | None = None
    notes: int = 0  # answers that came with notes (e.g. the time limit was reached)
    error: str | None = None
    capped: bool = False  # a run hit the guard: its time is recorded as the guard


def measure(store: Any, repeat: int, cap_s: float) -> tuple[list[QueryRun], str | None]:
    """Every query of the set, 1 warm-up + ``repeat`` timed runs; (runs, why it stopped)."""
    runs: list[QueryRun] = []
    for cls, name, query in query_set():
        run = QueryRun(cls, name)
        runs.append(run)
        for k in range(repeat + 1):
            out = guarded(lambda: store.search(query), cap_s, store)
            if out.exceeded:
                run.times.append(cap_s * 1000)
                run.capped = True
                run.error = f"over {cap_s:.0f} s ({out.fate})"
                return runs, f"`{name}` did not answer within {cap_s:.0f} s: {out.fate}"
            if out.error:
                run.error = out.error
                break
            run.total = out.value.total
            run.notes += bool(getattr(out.value, "notes", None))
            if k:
                run.times.append(out.ms)
                run.cpu.append(out.cpu_ms)
    return runs, None


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def file_mb(path: Path) -> tuple[float, float]:
    """Sizes of the database and of its -wal file, in MiB."""
    wal = Path(str(path) + "-wal")
    return os.path.getsize(path) / 2**20, (os.path.getsize(wal) / 2**20 if wal.exists() else 0.0)


# ---------------------------------------------------------------------------------------------
# The plain table: the baseline measured in the same run
# ---------------------------------------------------------------------------------------------

class Plain:
    """A narrow SQLite table of the same documents: primary key only, no other index, no FTS."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("CREATE TABLE plain (id TEXT PRIMARY KEY, source TEXT, channel TEXT, "
                          "kind TEXT, t TEXT, sentiment REAL, risk REAL, body TEXT)")

    @staticmethod
    def rows(docs: list[Document]) -> list[tuple]:
        """Column values of ``docs`` (built outside the timer)."""
        return [(d.id, d.source, d.channel, d.kind, (d.published_at or d.crawled_at).isoformat(),
                 d.sentiment, d.risk, json.dumps(d.to_dict(), ensure_ascii=False))
                for d in docs]

    def insert(self, rows: list[tuple]) -> float:
        """Seconds to write ``rows`` in one transaction."""
        start = time.perf_counter()
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT OR REPLACE INTO plain VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self.conn.execute("COMMIT")
        return time.perf_counter() - start

    def scan_ms(self) -> float:
        """Median ms of a brute-force scan: count of bodies containing 投诉 (3 runs)."""
        times = []
        for _ in range(3):
            start = time.perf_counter()
            self.conn.execute("SELECT count(*) FROM plain WHERE body LIKE '%投诉%'").fetchone()
            times.append((time.perf_counter() - start) * 1000)
        return pct(times, .5)


# ---------------------------------------------------------------------------------------------
# The two scenarios
# ---------------------------------------------------------------------------------------------

@dataclass
class Checkpoint:
    """Everything measured when the store held ``docs`` documents."""

    docs: int
    runs: list[QueryRun]
    stopped: str | None
    aggs: dict[str, float]
    db_mb: float
    wal_mb: float
    plain_mb: float
    rss: float
    scan_ms: float
    stored: int | None
    load: float


def aggregations(store: Any, cap_s: float) -> dict[str, float]:
    """Median ms (1 warm-up + 3 runs) of counting and bucketing everything."""
    month = SearchQuery(since=NOW - timedelta(days=30))
    calls = {"count(all)": lambda: store.count(None),
             "count(last 30 days)": lambda: store.count(month),
             "count_by_time(day)": lambda: store.count_by_time(None, "day"),
             "count_by_field(source)": lambda: store.count_by_field(None, "source")}
    out: dict[str, float] = {}
    for name, call in calls.items():
        times = []
        for k in range(4):
            res = guarded(call, cap_s, store)
            if res.exceeded or res.error:
                times = [float("nan")]
                break
            if k:
                times.append(res.ms)
        out[name] = pct(times, .5)
    return out


def run_main(args: argparse.Namespace, texts: list[Text], replies: list[str],
             workdir: Path) -> dict:
    """Insert ``args.docs`` documents, measuring each segment, and query at each checkpoint."""
    corpus = Corpus(texts, replies,
                    chronological_over=args.docs if args.order == "chronological" else 0)
    store = EmbeddedStore(StoreConfig(path=workdir / "store.db"))
    plain = Plain(workdir / "plain.db")
    # a segment: start, put_many s, plain s, slowest batch ms, put_many CPU s
    # a segment: start, put_many s, plain s, slowest batch ms, put_many CPU s, and, for a
    # store that splits the work (prepare outside the write lock, then write_prepared), the
    # seconds of each half
    fresh = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    segments, checkpoints, seg = [], [], [0, *fresh]
    split = hasattr(store, "prepare") and hasattr(store, "write_prepared")
    done, stopped = 0, None
    while done < args.docs and stopped is None:
        docs = corpus.take(min(BATCH, args.docs - done))  # built outside the timer
        rows = Plain.rows(docs)
        start, cpu = time.perf_counter(), time.process_time()
        if split:  # the same work as put_many, timed in its two halves
            prepared = store.prepare(docs)
            middle = time.perf_counter()
            store.write_prepared(prepared)
            seg[5] += middle - start
            seg[6] += time.perf_counter() - middle
        else:
            store.put_many(docs)
        took = time.perf_counter() - start
        seg[4] += time.process_time() - cpu
        seg[1] += took
        seg[3] = max(seg[3], took * 1000)
        seg[2] += plain.insert(rows)
        done += len(docs)
        if done - seg[0] >= args.segment or done == args.docs:
            segments.append((seg[0], done, *seg[1:]))
            seg = [done, *fresh]
        if done in args.checkpoints or done == args.docs:
            runs, stopped = measure(store, args.repeat, args.guard)
            aggs = aggregations(store, args.guard) if stopped is None else {}
            stored = store.count(None) if stopped is None else None
            db, wal = file_mb(workdir / "store.db")
            checkpoints.append(Checkpoint(done, runs, stopped, aggs, db, wal,
                                          sum(file_mb(workdir / "plain.db")), rss_mb(),
                                          plain.scan_ms(), stored, os.getloadavg()[0]))
            print(f"  {done:,} documents: search {summary([t for r in runs for t in r.times])} ms,"
                  f" {db + wal:,.0f} MB, RSS {rss_mb():,.0f} MB", file=sys.stderr, flush=True)
    if stopped is None:
        store.close()
    plain.conn.close()
    return {"segments": segments, "checkpoints": checkpoints, "stuck": stopped is not None,
            "n_queries": len(query_set()), "repeat": args.repeat}


def run_big(args: argparse.Namespace, texts: list[Text], replies: list[str],
            workdir: Path) -> dict:
    """A ``args.big_base`` store searched without and then with ten 10 MB documents."""
    corpus = Corpus(texts, replies)
    store = EmbeddedStore(StoreConfig(path=workdir / "big.db"))
    insert_s = 0.0
    for _ in range(0, args.big_base, BATCH):
        docs = corpus.take(BATCH)
        start = time.perf_counter()
        store.put_many(docs)
        insert_s += time.perf_counter() - start
    without, stopped = measure(store, args.repeat, args.guard)
    result = {"base": args.big_base, "n_queries": len(query_set()), "insert_s": insert_s,
              "without": without, "stopped_without": stopped, "big_inserts": [], "with": [],
              "stopped": None}
    print(f"  {args.big_base:,} documents: search {summary([t for r in without for t in r.times])}"
          " ms; adding ten 10 MB documents", file=sys.stderr, flush=True)
    for k in range(10 if stopped is None else 0):
        doc = big_document(k)  # built outside the timer
        out = guarded(lambda: store.put_many([doc]), args.guard * 10, store)
        result["big_inserts"].append((doc.title, len(doc.text.encode()), out.ms, out.error))
        if out.exceeded:
            result["stopped"] = f"put_many of document {k} took over {args.guard * 10:.0f} s: " \
                                f"{out.fate}"
            break
    if result["stopped"] is None and stopped is None:
        result["with"], result["stopped"] = measure(store, args.repeat, args.guard)
    db, wal = file_mb(workdir / "big.db")
    result.update(db_mb=db, wal_mb=wal, rss=rss_mb())
    result["stuck"] = result["stopped"] is not None or stopped is not None
    if not result["stuck"]:
        store.close()
    return result


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------

def main() -> None:
    """Parse arguments, run both scenarios and print (and optionally write) the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="import monitor from this tree")
    parser.add_argument("--docs", type=int, default=1_000_000, help="documents in the main store")
    parser.add_argument("--checkpoints", default="100000,300000,1000000",
                        help="comma-separated document counts at which to query")
    parser.add_argument("--segment", type=int, default=100_000, help="documents per insert segment")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each query")
    parser.add_argument("--guard", type=float, default=60.0, help="seconds one search may take")
    parser.add_argument("--big-base", type=int, default=100_000,
                        help="documents in the store of the 10 MB scenario")
    parser.add_argument("--skip-big", action="store_true", help="skip the 10 MB scenario")
    parser.add_argument("--skip-main", action="store_true", help="run only the 10 MB scenario")
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--keep", type=Path, help="write the databases here and keep them")
    parser.add_argument("--write", type=Path, help="also write the report to this Markdown file")
    parser.add_argument("--append", action="store_true", help="add the report to --write's file")
    parser.add_argument("--heading", help="heading of this run's section")
    parser.add_argument("--order", choices=("random", "chronological"), default="random",
                        help="publish times: uniform over the year in random order (the worst "
                        "case for the time indexes), or in the order a year of crawling brings "
                        "them")
    parser.add_argument("--reopen", type=Path, help="only search an existing store (a --keep "
                        "folder's store.db) with the query set, e.g. again on a quiet machine")
    args = parser.parse_args()
    args.checkpoints = {int(c) for c in args.checkpoints.split(",") if c.strip()}
    if args.reopen:
        reopen(args)
        return
    if not args.data.is_dir():
        print(f"skipped: data folder {args.data} not found")
        return
    t0 = time.time()
    info = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load": os.getloadavg(),
            "command": " ".join(filter(None, [
                f"PYTHONPATH={os.environ['PYTHONPATH']}" if os.environ.get("PYTHONPATH") else "",
                "python bench/bench_store_scale.py", shlex.join(sys.argv[1:])]))}
    texts, replies, counts = load_texts(args.data)
    if not texts:
        sys.exit(f"no usable text found under {args.data}")
    sample = Corpus(texts, replies).take(5000)
    info.update(n_texts=len(texts), sets=", ".join(f"{k} {v:,}" for k, v in counts.items()),
                chars=sum(len(d.title) + len(d.text) for d in sample) / len(sample),
                messages=sum(d.kind == "message" for d in sample) / len(sample))
    textseg.tokenizer()  # load jieba before any timer starts
    textseg.segment("预热分词")
    info["rss0"] = rss_mb()
    info["package"] = Path(monitor.__file__).parent
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for old in workdir.glob("*.db*"):
            old.unlink()
        main_result = None if args.skip_main else run_main(args, texts, replies, workdir)
        big = None if args.skip_big else run_big(args, texts, replies, workdir)
        info["wall_s"] = time.time() - t0
        lines = report(args, main_result, big, info)
        text = "\n".join(lines) + "\n"
        print(text)
        if args.write:
            old = args.write.read_text(encoding="utf-8") if args.append and args.write.exists() \
                else INTRO
            args.write.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")
        stuck = (main_result or {}).get("stuck") or (big or {}).get("stuck")
    if stuck:  # a search is still running in an abandoned worker thread: do not wait for it
        sys.stdout.flush()
        os._exit(0)


def reopen(args: argparse.Namespace) -> None:
    """Search an existing store with the query set and print p50 / p95 / max per class."""
    textseg.tokenizer()
    store = EmbeddedStore(StoreConfig(path=args.reopen))
    load = os.getloadavg()[0]
    runs, stopped = measure(store, args.repeat, args.guard)
    aggs = aggregations(store, args.guard) if stopped is None else {}
    docs = store.count(None)
    lines = [f"Re-searched `{args.reopen}` ({docs:,} documents), {len(runs)} queries, 1 warm-up + "
             f"{args.repeat} timed runs each; load average {load:.2f} at the start, "
             f"{os.getloadavg()[0]:.2f} at the end.", "",
             "| class | queries | wall ms p50 / p95 / max | CPU ms p50 / p95 / max |",
             "|---|---|---|---|"]
    classes = list(dict.fromkeys(r.cls for r in runs))
    for cls in classes + ["all"]:
        chosen = [r for r in runs if cls in ("all", r.cls)]
        lines.append(f"| {cls} | {len(chosen)} | {summary([t for r in chosen for t in r.times])} | "
                     f"{summary([t for r in chosen for t in r.cpu])} |")
    slow = sorted(runs, key=lambda r: -max(r.times, default=0))[:3]
    lines += ["", "Slowest: " + ", ".join(f"{r.name} ({max(r.times):.0f} ms)" for r in slow),
              "", "Aggregations (median ms): " + ", ".join(f"{k} {v:.0f}" for k, v in aggs.items())]
    if stopped:
        lines.append(f"\nStopped: {stopped}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        old = args.write.read_text(encoding="utf-8") if args.write.exists() else INTRO
        heading = args.heading or f"Re-searched {args.reopen}"
        args.write.write_text(old.rstrip("\n") + f"\n\n### {heading}\n\n" + text,
                              encoding="utf-8")
    store.close()


if __name__ == "__main__":
    main()
