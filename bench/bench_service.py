"""The service's figures (issue 7): where documents are analysed and stored, stored → delivered
latency, ingest with per-document rules, and the CPU of an idle ``monitor run``.

    python bench/bench_service.py all --write docs/benchmarks-service.md   # ~25 min
    python bench/bench_service.py all --quick                              # ~1 min
    python bench/bench_service.py where|latency|rules|idle [--quick]       # one section

* ``where`` — the demo site (``monitor.demo.site``) and a larger site of letter boards
  (``monitor.localsite.write_letter_board``) on loopback, crawled (A) as ``monitor crawl`` does,
  ``monitor.crawl.run_crawls`` (each crawl subprocess loads the plugins and writes the store),
  and (B) through the service hand-off, ``Service(config).start(); run_once()`` with ``[run]
  handoff = true`` (crawlers only collect; the service analyses and stores with its plugins
  loaded before the timer).  Baseline in the same run: ``bench/bare_spider.py``, one process per
  source.  Every run happens in a fresh worker process (a fresh store), so that its children's
  CPU time and peak RSS (``getrusage(RUSAGE_CHILDREN)``) are the crawl subprocesses' alone.
* ``latency`` — a ``match`` rule with ``group_by = ["author"]`` over real Weibo posts with
  unique authors (one alert each) to a loopback webhook, through ``Service.run_forever()``;
  documents arrive as hand-off files (``HandoffWriter``).  Stored = when the batch's store
  commit returned (``Service._stored`` is entered); delivered = when the receiver read the body.
* ``rules`` — ``Inbox.run_once()`` storing N real documents with 20 per-document rules, beside
  the same with none.
* ``idle`` — ``monitor run`` as a process with 20 sources (``interval_minutes = 60``) and 20
  rules; after the first crawls, its CPU time (process + children, /proc) over the idle period.

Models and imports are loaded before every timer.  Timings are wall clock on a shared machine:
the load average is printed beside them, and ratios compare runs made in the same invocation.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._data import board_messages, warm, weibo_posts  # noqa: E402
from bench.bench_crawl import SECTIONS, bare  # noqa: E402
from monitor.config import SourceConfig, load_config  # noqa: E402
from monitor.crawl import run_crawls  # noqa: E402
from monitor.demo.site import build_site, serve_site  # noqa: E402
from monitor.demo.sources import demo_sources  # noqa: E402
from monitor.documents import Document  # noqa: E402
from monitor.handoff import HandoffWriter, inbox_dir, run_label  # noqa: E402
from monitor.localsite import (LETTER_BOARD_SELECTORS, serve_directory,  # noqa: E402
                               write_letter_board)
from monitor.service import Service  # noqa: E402
from monitor.starter import write_config  # noqa: E402

DISABLED = ["sentiment_snownlp"]  # as bench_crawl: the analysis issue replaces snownlp
TICK = os.sysconf("SC_CLK_TCK")


# -- shared helpers ------------------------------------------------------------------------------

def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _config_dir(path: Path, sources: list, *, parallel: int = 2, rules: dict | None = None,
                channels: str = "") -> Path:
    """A fresh configuration (snownlp off) with ``[run] max_parallel_crawls`` and rule files."""
    write_config(path, sources=sources, disabled=DISABLED)
    toml = path / "monitor.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(
        "max_parallel_crawls = 2", f"max_parallel_crawls = {parallel}"), encoding="utf-8")
    for name, text in (rules or {}).items():
        (path / "rules").mkdir(exist_ok=True)
        (path / "rules" / f"{name}.toml").write_text(text, encoding="utf-8")
    if channels:
        (path / "channels.toml").write_text(channels, encoding="utf-8")
    return path


def _cpu() -> tuple[float, float]:
    """CPU seconds (self, waited children) of this process."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


class ChildPeaks(threading.Thread):
    """Samples the peak RSS (VmHWM) of this process's crawl children every ``every`` seconds.

    ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` cannot be used for this: a child forked from a
    large parent (the service) is charged the parent's RSS at the fork.  The sampler's own CPU
    time is kept in ``cpu`` so that it can be left out of the parent's.
    """

    def __init__(self, every: float = 0.2):
        super().__init__(daemon=True)
        self.every, self.peaks, self.cpu = every, {}, 0.0
        self.done = threading.Event()

    def run(self) -> None:
        me = str(os.getpid())
        while not self.done.is_set():
            began = time.thread_time()
            for pid in (p for p in os.listdir("/proc") if p.isdigit()):
                try:
                    if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] != me:
                        continue
                    if b"scrapy" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        continue  # forked, not yet exec'd: it still shows the parent's RSS
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peaks[pid] = max(self.peaks.get(pid, 0), int(line.split()[1]))
            self.cpu += time.thread_time() - began
            self.done.wait(self.every)

    def stop(self) -> float:
        """Stop; the largest peak RSS of a child, in MB."""
        self.done.set()
        self.join()
        return max(self.peaks.values(), default=0) / 1024


def _machine() -> str:
    return (f"{platform.python_implementation()} {platform.python_version()}, SQLite "
            f"{sqlite3.sqlite_version}, {os.cpu_count()} CPUs, "
            f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB")


def _load() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg())


# -- 1. where documents are analysed and stored --------------------------------------------------

def _allow(source) -> str:
    return SECTIONS.get(source.id) or urlsplit(source.url).path.rsplit("/", 1)[0] + "/"


def worker(mode: str, config_dir: Path) -> dict:
    """One timed run in this (fresh) process: ``bare``, ``A`` (run_crawls) or ``B`` (service)."""
    config = load_config(config_dir)
    ids = sorted(config.sources)
    parallel = config.run.max_parallel_crawls
    out: dict = {"mode": mode, "parallel": parallel}
    peaks = ChildPeaks()
    if mode == "bare":
        tmp = Path(tempfile.mkdtemp(prefix="bench-bare-"))
        jobs = [(config.sources[i], tmp / i) for i in ids]
        for _, folder in jobs:
            folder.mkdir()
        self0, kids0 = _cpu()
        peaks.start()
        began = time.perf_counter()
        with ThreadPoolExecutor(parallel) as pool:
            runs = list(pool.map(lambda j: bare([j[0].url], j[1], _allow(j[0])), jobs))
        out["wall"] = time.perf_counter() - began
        out["pages"] = out["docs"] = sum(r[0] for r in runs)
        reports = []
    elif mode == "A":
        self0, kids0 = _cpu()
        peaks.start()
        began = time.perf_counter()
        results = run_crawls(config, ids, parallel=parallel, timeout=900)
        out["wall"] = time.perf_counter() - began
    else:
        service = Service(config)
        began = time.perf_counter()
        service.start()
        warm(service.monitor)
        out["startup"] = time.perf_counter() - began
        self0, kids0 = _cpu()
        peaks.start()
        began = time.perf_counter()
        done = service.run_once()
        out["wall"] = time.perf_counter() - began
        out["crawl_rss_mb"] = peaks.stop()
        end = _cpu()  # before stop(): closing the service is not part of the run
        service.stop()
        results = done["results"]
    self1, kids1 = end if mode == "B" else _cpu()
    if "crawl_rss_mb" not in out:
        out["crawl_rss_mb"] = peaks.stop()
    if mode != "bare":
        bad = [f"{r.source}: {r.message}" for r in results if r.status != "ok"]
        if bad:
            raise SystemExit("; ".join(bad))
        reports = [r.report for r in results]
        out["pages"] = sum(int(r.get("pages") or 0) for r in reports)
        ingest = [r.get("ingest") or {} for r in reports]
        out["docs"] = sum(i.get("inserted", 0) + i.get("updated", 0) for i in ingest)
        out["retries"] = sum(i.get("write_retries", 0) for i in ingest)
        out["spooled"] = sum(i.get("spooled", 0) for i in ingest)
        locks = [i.get("write_lock_ms") or {} for i in ingest]
        out["transactions"] = sum(k.get("transactions") or 0 for k in locks)
        out["lock_p95"] = max((k.get("p95") or 0 for k in locks), default=0)
        out["lock_max"] = max((k.get("max") or 0 for k in locks), default=0)
    out["crawl_cpu"] = kids1 - kids0
    out["parent_cpu"] = self1 - self0 - peaks.cpu
    out["parent_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _in_worker(mode: str, config_dir: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "_worker", mode, str(config_dir)],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"worker {mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _letter_site(root: Path, boards: int, letters: int) -> list:
    names = [f"board{i:02d}" for i in range(boards)]
    for name in names:
        write_letter_board(root, name, letters)
    return names


def where(quick: bool, repeat: int) -> str:
    """Section 1: A (crawls store) against B (service hand-off), beside the bare spider."""
    sites = [("demo", None)] + ([] if quick else [("letters", (3, 1000))])
    lines = ["## 1. Where documents are analysed and stored", ""]
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp_name:
        tmp = Path(tmp_name)
        for site, size in sites:
            root = tmp / f"site-{site}"
            if size is None:
                info = build_site(root, seed=7)
                what = (f"the demo site (`monitor.demo.site.build_site`, seed 7: {info.news} "
                        f"articles, {info.messages} GBK letters, {info.feed_items} feed items; "
                        "3 sources)")
                served = serve_site(root)
            else:
                names = _letter_site(root, *size)
                what = (f"a larger site: {size[0]} letter boards × {size[1]:,} letters "
                        "(`monitor.localsite.write_letter_board`, one list page each)")
                served = serve_directory(root)
            with served as base:
                if size is None:
                    sources = demo_sources(base)
                else:
                    sources = [SourceConfig(id=n, spider="news_list", channel="board",
                                            url=f"{base}/{n}/list.html", max_pages=1,
                                            selectors=LETTER_BOARD_SELECTORS) for n in names]
                runs: dict[tuple, list] = {}
                plan = [(m, p) for p in (1, 2) for m in ("bare", "A", "B")]
                if quick:
                    plan = [(m, 2) for m in ("bare", "A", "B")]
                count = 0
                for _ in range(repeat):
                    for mode, parallel in plan:
                        count += 1
                        cfg = _config_dir(tmp / f"cfg-{site}{count}", sources,
                                          parallel=parallel)
                        runs.setdefault((mode, parallel), []).append(_in_worker(mode, cfg))
                        print(f"  {site} {mode} ×{parallel}: {runs[(mode, parallel)][-1]}",
                              file=sys.stderr)
            lines += _where_table(site, what, runs, repeat)
    return "\n".join(lines)


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r.get(key) or 0 for r in runs)


def _where_table(site: str, what: str, runs: dict, repeat: int) -> list[str]:
    lines = [f"### {site}: {what}", "",
             f"Medians of {repeat} run(s); {_load()} at the end.", "",
             "| run | crawls at once | pages | docs stored | wall s | docs/s | vs bare | "
             "crawl CPU s | parent CPU s | peak RSS of a crawl MB | parent RSS MB | "
             "lock retries | lock p95 / max ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    labels = {"bare": "baseline: bare Scrapy spider", "A": "A: crawls analyse and store",
              "B": "B: service hand-off"}
    for (mode, parallel), rs in sorted(runs.items(), key=lambda kv: (kv[0][1], "bareAB".index(
            kv[0][0][0]))):
        bare_runs = runs.get(("bare", parallel))
        wall = _median(rs, "wall")
        rate = _median(rs, "docs") / wall if mode != "bare" else _median(rs, "pages") / wall
        base = _median(bare_runs, "pages") / _median(bare_runs, "wall") if bare_runs else None
        lock = (f"{_median(rs, 'lock_p95'):.0f} / {_median(rs, 'lock_max'):.0f}"
                if mode != "bare" else "–")
        retries = f"{_median(rs, 'retries'):.0f}" if mode != "bare" else "–"
        lines.append(
            f"| {labels[mode]} | {parallel} | {_median(rs, 'pages'):.0f} | "
            f"{_median(rs, 'docs'):.0f}{'' if mode != 'bare' else ' (pages)'} | {wall:.2f} | "
            f"{rate:.0f} | {rate / base:.2f}× | {_median(rs, 'crawl_cpu'):.1f} | "
            f"{_median(rs, 'parent_cpu'):.1f} | {_median(rs, 'crawl_rss_mb'):.0f} | "
            f"{_median(rs, 'parent_rss_mb'):.0f} | "
            f"{retries} | {lock} |")
    lines.append("")
    for parallel in (1, 2):
        a, b = runs.get(("A", parallel)), runs.get(("B", parallel))
        if not a or not b:
            continue
        ra, rb = (_median(a, "docs") / _median(a, "wall"), _median(b, "docs") / _median(b, "wall"))
        ca = _median(a, "crawl_cpu") + _median(a, "parent_cpu")
        cb = _median(b, "crawl_cpu") + _median(b, "parent_cpu")
        lines.append(f"- {parallel} crawl(s) at once: B/A docs/s **{rb / ra:.2f}×**; "
                     f"CPU B/A {cb / ca:.2f}× ({cb:.1f} s against {ca:.1f} s, crawls + "
                     f"parent); peak crawl RSS B/A "
                     f"{_median(b, 'crawl_rss_mb') / _median(a, 'crawl_rss_mb'):.2f}×; service "
                     f"start-up (start + models, paid once) {_median(b, 'startup'):.1f} s.")
    lines.append("")
    return lines


# -- 2. stored → delivered latency ---------------------------------------------------------------

class _Hook(ThreadingHTTPServer):
    """A loopback webhook that keeps the arrival time of each notice by its group's author."""

    daemon_threads = True

    def __init__(self):
        self.arrived: dict[str, float] = {}
        self.notices = 0
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - stdlib name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.monotonic()
                data = json.loads(body)
                with hook.lock:
                    hook.notices += 1
                    author = (data.get("group") or {}).get("author")
                    if data.get("kind") == "firing" and author:
                        hook.arrived.setdefault(author, at)
                answer = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class TimedService(Service):
    """The service, noting when each stored batch's commit returned and its rules were done."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stored_at: dict[str, float] = {}
        self.ruled_at: dict[str, float] = {}

    def _stored(self, pairs) -> None:
        at = time.monotonic()
        pairs = list(pairs)
        for doc, _ in pairs:
            self.stored_at[doc.author] = at
        super()._stored(pairs)
        done = time.monotonic()
        for doc, _ in pairs:
            self.ruled_at[doc.author] = done


PER_AUTHOR_RULE = ('name = "每条社交信息"\ntype = "match"\ngroup_by = ["author"]\n'
                   'channels = ["hook"]\n\n[filters]\nchannels = ["social"]\n')


def _authored(count: int, tag: str) -> list[Document]:
    docs = weibo_posts(count)
    for i, doc in enumerate(docs):
        doc.author = f"网民{tag}{i:05d}"
    return docs


def latency(quick: bool) -> str:
    """Section 2: p50 / p95 / max stored → delivered at three feed rates."""
    count = 300 if quick else 1000
    feeds = [("steady: a file of 5 every 0.5 s (10 alerts/s)", 5, 0.5, 100 if quick else count),
             ("crawl-like: a file of 50 every 0.5 s (100 alerts/s)", 50, 0.5, count),
             ("burst: every file at once (files of 50)", 50, 0.0, count)]
    lines = ["## 2. Stored → delivered latency (per-document rule → loopback webhook)", "",
             "`match` rule with `group_by = [\"author\"]` over real Weibo posts, each with its "
             "own author (one alert each), through `Service.start(); run_forever()` (the real "
             "loop, outbox and webhook channel); documents handed off as files "
             "(`HandoffWriter`, as a crawl does).  Latency = the webhook reading the notice − "
             "the batch's store commit returning (`Service._stored` entered).", "",
             "| feed | alerts delivered | p50 s | p95 s | max s | commit → rules done p95 s | "
             "wall s |", "|---|---|---|---|---|---|---|"]
    for i, (feed, per_file, gap, n) in enumerate(feeds):
        r = _latency_run(n, per_file, gap, tag=str(i))
        lines.append(f"| {feed} | {r['delivered']} / {n} | {r['p50']:.3f} | "
                     f"{r['p95']:.3f} | {r['max']:.3f} | {r['rules_p95']:.3f} | "
                     f"{r['wall']:.1f} |")
    lines += ["", f"Goal: p95 ≤ 2 s. {_load()}.", ""]
    return "\n".join(lines)


def _latency_run(count: int, per_file: int, gap: float, tag: str) -> dict:
    docs = _authored(count, tag)
    hook = _Hook()
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        cfg = _config_dir(Path(tmp), [], rules={"per-author": PER_AUTHOR_RULE},
                          channels=f'[hook]\ntype = "webhook"\nurl = "{hook.url}"\ntimeout = 5\n')
        service = TimedService(load_config(cfg))
        service.start()
        warm(service.monitor)
        began = time.monotonic()

        def feed() -> None:
            writer = HandoffWriter(inbox_dir(service.config.data_dir), run_label(0, "bench"),
                                   batch=per_file, seconds=3600)
            for i, doc in enumerate(docs, 1):
                writer.add(doc)
                if gap and i % per_file == 0:
                    time.sleep(gap)
            writer.close()
            deadline = time.monotonic() + 120
            while len(hook.arrived) < count and time.monotonic() < deadline:
                time.sleep(0.05)
            service.request_stop("benchmark done")

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        service.run_forever()  # in the main thread: it installs the signal handlers
        wall = time.monotonic() - began
        service.stop()
        feeder.join()
    hook.shutdown()
    waits = [hook.arrived[a] - service.stored_at[a] for a in hook.arrived if a in service.stored_at]
    rules = [service.ruled_at[a] - service.stored_at[a] for a in service.ruled_at]
    return {"delivered": len(waits), "p50": _pct(waits, 0.5), "p95": _pct(waits, 0.95),
            "max": max(waits), "rules_p95": _pct(rules, 0.95), "wall": wall,
            "notices": hook.notices}


# -- 3. ingest with 20 per-document rules --------------------------------------------------------

PER_DOCUMENT_RULES = {
    **{f"match-{i:02d}": f'type = "match"\nquery = "{q}"\nchannels = ["log"]\n' + (
        'group_by = ["source"]\n' if i % 2 else "")
       for i, q in enumerate(["学校", "医院 OR 医生", "交通 OR 道路", "投诉", "房价 OR 房子",
                              "工资 OR 拖欠", "环境 OR 污染", "警察 OR 公安", "孩子 -高考",
                              "政府"])},
    **{f"terms-{i}": f'type = "match"\nterms = {json.dumps(t, ensure_ascii=False)}\n'
                     'channels = ["log"]\n'
       for i, t in enumerate([["死亡", "受伤", "事故"], ["暴雨", "积水", "停水"]])},
    **{f"threshold-{i}": f'type = "threshold"\nrisk = {r}\nchannels = ["log"]\n'
                         + ('group_by = ["channel"]\n' if i % 2 else "")
       for i, r in enumerate([0.3, 0.4, 0.5, 0.6, 0.7])},
    **{f"new-{f}": f'type = "new_term"\nfield = "{f}"\nchannels = ["log"]\n'
       for f in ("place", "department", "source")},
}
assert len(PER_DOCUMENT_RULES) == 20


class InboxOnly(Service):
    """The service without its hand-off thread: the benchmark drives ``inbox.run_once()``."""

    def _write_loop(self) -> None:
        return


def _ingest_run(docs: list[Document], rules: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-rules-") as tmp:
        cfg = _config_dir(Path(tmp), [], rules=rules)
        service = InboxOnly(load_config(cfg))
        service.start()
        warm(service.monitor)
        writer = HandoffWriter(inbox_dir(service.config.data_dir), run_label(0, "bench"),
                               batch=50, seconds=3600)
        for doc in docs:  # fresh copies: the pipeline fills analysis in place
            doc.analysis, doc.risk, doc.risk_reasons = {}, None, []
            writer.add(doc)
        writer.close()
        cpu0 = _cpu()[0]
        began = time.perf_counter()
        stored = service.inbox.run_once()
        seconds = time.perf_counter() - began
        cpu = _cpu()[0] - cpu0
        per_doc = len(service.engine.per_document)
        alerts = service.alerts.list() if hasattr(service.alerts, "list") else []
        service.stop()
    return {"stored": stored, "seconds": seconds, "rate": stored / seconds, "cpu": cpu,
            "rules": per_doc, "alerts": len(alerts)}


def rules(quick: bool) -> str:
    """Section 3: Inbox.run_once() storing N documents with 20 per-document rules and none."""
    docs = weibo_posts(2000 if quick else 10_000) + board_messages()
    runs = [("no rules", _ingest_run(docs, {})),
            ("20 per-document rules (12 match, 5 threshold, 3 new_term)",
             _ingest_run(docs, PER_DOCUMENT_RULES))]
    base = runs[0][1]["rate"]
    lines = ["## 3. Ingest with 20 per-document rules", "",
             f"{len(docs):,} real documents (NLPCC 2013 Weibo posts + TipDM 2020 board letters) "
             "handed off as files of 50, then stored by `Inbox.run_once()` of a started service "
             "(topics and risk plugins loaded before the timer; rules evaluated on each stored "
             "batch, alerts written to the state database; nothing delivered).", "",
             "| run | rules loaded | docs stored | seconds | docs/s | vs no rules | CPU s | "
             "open alerts |", "|---|---|---|---|---|---|---|---|"]
    for label, r in runs:
        lines.append(f"| {label} | {r['rules']} | {r['stored']:,} | {r['seconds']:.1f} | "
                     f"{r['rate']:.0f} | {r['rate'] / base:.2f}× | {r['cpu']:.1f} | "
                     f"{r['alerts']} |")
    lines += ["", f"{_load()}.", ""]
    return "\n".join(lines)


# -- 4. an idle monitor run ----------------------------------------------------------------------

WINDOW_RULES = {
    "freq-place": 'type = "frequency"\nwindow_minutes = 60\nmin_count = 3\ngroup_by = ["place"]\n',
    "freq-source": 'type = "frequency"\nwindow_minutes = 30\nmin_count = 10\n'
                   'group_by = ["source"]\nquery = "道路"\n',
    "spike-source": 'type = "spike"\nwindow_minutes = 120\ngroup_by = ["source"]\n',
    "spike-all": 'type = "spike"\nwindow_minutes = 60\ndirection = "both"\n',
    "flatline-source": 'type = "flatline"\nwindow_minutes = 1440\ngroup_by = ["source"]\n'
                       'history_minutes = 10080\n',
    "flatline-channel": 'type = "flatline"\nwindow_minutes = 720\ngroup_by = ["channel"]\n',
    "cross-wall": 'type = "cross_channel"\nwindow_minutes = 180\nquery = "学校 围墙"\n',
    "cross-water": 'type = "cross_channel"\nwindow_minutes = 180\nquery = "积水"\n',
    "unanswered-dept": 'type = "unanswered"\nworkdays = 5\ngroup_by = ["department"]\n',
    "unanswered-all": 'type = "unanswered"\nworkdays = 10\n',
}


def _idle_rules() -> dict:
    per_doc = list(PER_DOCUMENT_RULES.items())[::2]  # 10 of the 20
    window = {k: v + 'channels = ["log"]\n' for k, v in WINDOW_RULES.items()}
    return {**dict(per_doc), **window}


def _proc_cpu(pid: int) -> float:
    """utime + stime of ``pid`` and of its waited children (/proc/PID/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK  # fields 14-17 of stat(5)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def idle(quick: bool) -> str:
    """Section 4: CPU of an idle ``monitor run`` (20 sources, 20 rules) after its first crawls."""
    from monitor.state import StateDB

    minutes = 1 if quick else 10
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp_name:
        tmp = Path(tmp_name)
        names = _letter_site(tmp / "site", 20, 5)
        with serve_directory(tmp / "site") as base:
            sources = [SourceConfig(id=n, spider="news_list", channel="board",
                                    url=f"{base}/{n}/list.html", max_pages=1,
                                    interval_minutes=60, selectors=LETTER_BOARD_SELECTORS)
                       for n in names]
            cfg = _config_dir(tmp / "config", sources, rules=_idle_rules())
            config = load_config(cfg)
            with open(tmp / "run.log", "wb") as log:
                proc = subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(cfg), "run"],
                                        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
            try:
                first = _wait_first_crawls(proc, StateDB(config.state_url), len(names),
                                           inbox_dir(config.data_dir))
                time.sleep(5)  # the last crawl's thread and the stored files settle
                cpu0, t0 = _proc_cpu(proc.pid), time.monotonic()
                time.sleep(minutes * 60)
                cpu1, t1 = _proc_cpu(proc.pid), time.monotonic()
                rss = _rss_mb(proc.pid)
                runs = len(StateDB(config.state_url).runs(limit=1000))
            finally:
                proc.terminate()
                code = proc.wait(60)
            text = (tmp / "run.log").read_text(encoding="utf-8", errors="replace")
    per_min = (cpu1 - cpu0) / ((t1 - t0) / 60)
    evaluated = text.count("could not be evaluated")
    started = re.search(r"monitor run started: (\d+) sources, (\d+) rules \((\d+) per document",
                        text)
    if started is None or started.groups() != ("20", "20", "10"):
        raise SystemExit("monitor run did not load 20 sources and 20 rules:\n" + text[-3000:])
    lines = ["## 4. CPU of an idle `monitor run`", "",
             f"`python -m monitor -c DIR run` as a process: 20 sources (letter boards of 5 "
             "letters on loopback, `interval_minutes = 60`), 20 rules (10 window: 2 each of "
             "frequency, spike, flatline, cross_channel, unanswered, evaluated every 60 s; 10 "
             f"per-document), `log` channel.  First crawls done after {first:.1f} s (CPU of "
             f"the service and its crawls by then: {cpu0:.1f} s); then {minutes} minute(s) "
             "idle.", "",
             "| idle period | CPU s (process + children) | CPU s per minute | % of one core | "
             "RSS MB | crawl runs | exit code after SIGTERM |", "|---|---|---|---|---|---|---|",
             f"| {(t1 - t0) / 60:.1f} min | {cpu1 - cpu0:.2f} | {per_min:.2f} | "
             f"{per_min / 60 * 100:.2f} % | {rss:.0f} | {runs} | {code} |", "",
             f"{_load()}." + (f" {evaluated} rule evaluations failed (see the log)."
                              if evaluated else ""), ""]
    return "\n".join(lines)


def _wait_first_crawls(proc, state, expected: int, inbox: Path, timeout: float = 600) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"monitor run exited with {proc.returncode}")
        finished = [r for r in state.runs(limit=1000) if r.finished_at is not None]
        if len(finished) >= expected and not list(inbox.glob("*")):
            return time.monotonic() - began
        time.sleep(0.5)
    raise SystemExit(f"the first crawls did not finish in {timeout:g} s")


# -- main ----------------------------------------------------------------------------------------

SECTIONS_RUN = ("where", "latency", "rules", "idle")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=SECTIONS_RUN + ("all", "_worker"))
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="small sizes, ~1 minute in all")
    parser.add_argument("--repeat", type=int, default=None, help="runs per case in 'where'")
    parser.add_argument("--write", type=Path, help="also write the Markdown to this file")
    args = parser.parse_args()
    if args.what == "_worker":
        print(json.dumps(worker(args.args[0], Path(args.args[1]))))
        return
    repeat = args.repeat or (1 if args.quick else 3)
    todo = SECTIONS_RUN if args.what == "all" else (args.what,)
    command = " ".join(["python bench/bench_service.py", *sys.argv[1:]])
    parts = [f"Command: `{command}`", "",
             f"Machine: {_machine()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
             f"{_load()} at the start.", ""]
    for name in todo:
        began = time.perf_counter()
        section = {"where": lambda: where(args.quick, repeat), "latency": lambda: latency(
            args.quick), "rules": lambda: rules(args.quick), "idle": lambda: idle(args.quick)
                   }[name]()
        parts += [section, f"({name}: {time.perf_counter() - began:.0f} s)", ""]
        print(section, flush=True)
    if args.write:
        args.write.write_text("\n".join(parts), encoding="utf-8")


if __name__ == "__main__":
    main()
