"""One evaluation round of 20 window rules over 100,000 and 1,000,000 stored documents (issue 7).

Builds an embedded store per size from copies of real posts, board messages, letters, 12345
work orders and news titles in ``../shared/data`` (the documents of ``_scale_corpus.Corpus``,
re-timed over 90 days with a daily rhythm, given places and authors, messages answered after a
few days as offices do, plus a 学校围墙 story in the last three hours and a portal that went quiet
a day ago), loads 20 window rules through the real rule loader (``alerts.rules.load_rules``) and
evaluates them at the end of the corpus exactly as a service would::

    alerts.ruletypes.make(rule).evaluate(store, now, active=…, state=…, calendar=…)

The firings are handed to nothing (evaluation only).  One warm-up round, then ``--rounds``
timed rounds; in each round a plain ``store.count(SearchQuery(since=now - 1 h, until=now))`` is
timed first, as the baseline measured in the same run.  Reported: per rule and total (median of
the rounds), total ÷ baseline, the store calls each rule made, peak RSS.  ``new_term`` rules are
evaluated with a learned state (learned once before the timer, as the service keeps it).

Stores are built in a child process (so that the peak RSS reported is evaluation's, not the
build's) into a temporary folder deleted at the end, or into ``--cache DIR``, where they are
kept and reused by later runs with the same generator version::

    python bench/bench_rules.py --write docs/benchmarks-rules.md --append --heading "…"
                                        # 100k and 1M: ~7 min to build, < 1 min to measure
    python bench/bench_rules.py --quick                             # 20k documents, < 1 min
    python bench/bench_rules.py --root /tmp/other-tree --cache /tmp/bench-rules-cache \
        --sizes 1000000                 # the same stores, evaluated by another tree's code
"""
from __future__ import annotations

import argparse
import bisect
import copy
import json
import os
import random
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from statistics import median
from zoneinfo import ZoneInfo


def _root_argument() -> str:
    for i, arg in enumerate(sys.argv):
        if arg == "--root" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if arg.startswith("--root="):
            return arg.split("=", 1)[1]
    return str(Path(__file__).resolve().parents[1])  # the tree this script is in


ROOT = Path(_root_argument()).resolve()
sys.path.insert(0, str(ROOT))  # before anything imports monitor or alerts
sys.path.append(str(Path(__file__).resolve().parent))  # bench/ helpers

from alerts.rules import load_rules  # noqa: E402
from alerts.ruletypes import make  # noqa: E402
from monitor import textseg  # noqa: E402
from monitor.documents import Document, Reply  # noqa: E402
from monitor.store import SearchQuery, StoreConfig  # noqa: E402
from monitor.store.embedded import EmbeddedStore  # noqa: E402
from monitor.workdays import WorkCalendar  # noqa: E402

from _data import SHARED_DATA  # noqa: E402
from _scale_corpus import DEPARTMENTS, NOW, PLACES, Corpus, load_texts  # noqa: E402
from _scale_report import machine, ms, tree_description  # noqa: E402

GENERATOR = "rules-corpus-2"  # change when the documents below change: cached stores rebuild
DAYS = 90
BATCH = 1000
TZ = ZoneInfo("Asia/Shanghai")
#: Relative volume per local hour: quiet nights, a morning and an evening peak.
HOURLY = [.35, .2, .12, .08, .08, .12, .3, .6, .9, 1.1, 1.2, 1.15,
          1.0, .95, 1.05, 1.1, 1.1, 1.0, .95, 1.05, 1.2, 1.3, 1.1, .7]
#: The county seat first (the most talked about), then towns, by weight 1 / rank^0.8.
TOWNS = ["城关镇", "城东街道", "城西街道", "开发区"] + [f"{p}镇" for p in PLACES]
TOWN_WEIGHTS = [1 / (k + 1) ** 0.8 for k in range(len(TOWNS))]
QUIET_SOURCE, QUIET_HOURS = "portal-1", 30  # a government portal that stopped a day ago
STORY_PLACE = "东风镇"
STORY = ["{p}中心小学围墙倒塌，有学生受伤，家长聚集在学校门口",
         "{p}一学校围墙突然倒塌，现场视频曝光，受伤学生已送医",
         "关于{p}学校围墙倒塌事件，网友质疑工程质量",
         "{p}小学围墙倒塌砸伤学生，教育局回应：正在调查",
         "转发：{p}学校围墙倒塌，孩子们没事吧？"]


# ---------------------------------------------------------------------------------------------
# The corpus: 90 days with a daily rhythm, places, authors, replies after a few days
# ---------------------------------------------------------------------------------------------

def _hour_table() -> tuple[datetime, list[float]]:
    """Start of the corpus (UTC) and the cumulative weight of each of its hours."""
    start = NOW - timedelta(days=DAYS)
    cum, total = [], 0.0
    for h in range(DAYS * 24):
        local = (start + timedelta(hours=h)).astimezone(TZ)
        total += HOURLY[local.hour] * (0.8 if local.weekday() >= 5 else 1.0)
        cum.append(total)
    return start, [c / total for c in cum]


class RulesCorpus:
    """Documents 0 … N-1 of ``Corpus``, re-timed so that document i falls at quantile i/N of
    the 90-day rhythm (oldest first, as crawling brings them), with places, authors and
    replies; the story and the quiet portal are built in."""

    def __init__(self, texts, replies, n: int):
        self.base = Corpus(texts, replies)
        self.replies = replies
        self.n = n
        self.start, self.cum = _hour_table()
        self.rnd = random.Random(n)

    def _time(self, i: int) -> datetime:
        u = (i + self.rnd.random()) / self.n
        h = min(bisect.bisect_left(self.cum, u), len(self.cum) - 1)
        return self.start + timedelta(hours=h, seconds=self.rnd.random() * 3600)

    def take(self, k: int) -> list[Document]:
        """The next ``k`` documents."""
        first = self.base.i
        docs = self.base.take(k)
        for j, doc in enumerate(docs):
            self._retime(first + j, doc)
        return docs

    def _retime(self, i: int, doc: Document) -> None:
        rnd = self.rnd
        at = self._time(i)
        doc.published_at = None if doc.published_at is None else at
        doc.crawled_at = min(NOW, at + timedelta(minutes=2 + rnd.expovariate(1 / 30)))
        if doc.source == QUIET_SOURCE and at > NOW - timedelta(hours=QUIET_HOURS):
            doc.source = "portal-0"
        if doc.kind == "message" or rnd.random() < 0.7:
            doc.place = rnd.choices(TOWNS, TOWN_WEIGHTS)[0]
        if doc.kind == "post":
            doc.author = f"u{int(60_000 * rnd.random() ** 2):05d}"
        if doc.kind == "message":  # most are answered within days; a few never
            delay = timedelta(days=rnd.lognormvariate(1.1, 0.7))
            if rnd.random() < 0.97 and at + delay < NOW:
                text = doc.reply.text if doc.reply else rnd.choice(self.replies)
                doc.reply = Reply(text, doc.department or rnd.choice(DEPARTMENTS), at + delay)
                doc.status = "replied"
            else:
                doc.reply, doc.status = None, "pending"

    def story(self) -> list[Document]:
        """The 学校围墙 story of the last three hours, on several channels (about 100 + N/20,000
        documents, stored last: they were crawled last)."""
        rnd = random.Random(7)
        out = []
        for k in range(100 + self.n // 20_000):
            at = NOW - timedelta(minutes=180 * (1 - k / (100 + self.n // 20_000)) ** 2 + 1)
            channel = rnd.choice(["social"] * 6 + ["news", "board"])
            kind = {"social": "post", "news": "article"}.get(channel, "message")
            source = {"social": f"weibo-{rnd.choice([1, 1, 1, 2, 4])}", "news": "news-0",
                      "board": "board-1"}[channel]
            text = rnd.choice(STORY).format(p=STORY_PLACE) + f" #{k}"
            score = rnd.uniform(0.05, 0.3)
            out.append(Document.new(
                source, channel, f"https://bench.example.gov.cn/story/{k}", title=text[:24],
                text=text, kind=kind, published_at=at,
                crawled_at=min(NOW, at + timedelta(minutes=5)), place=STORY_PLACE,
                author=f"u{rnd.randrange(60_000):05d}" if kind == "post" else None,
                department="教育局" if kind == "message" else None,
                status="pending" if kind == "message" else None,
                analysis={"sentiment": {"score": round(score, 3), "label": "negative"}},
                risk=round(rnd.uniform(0.6, 0.95), 3)))
        return out


def build(path: Path, n: int, data: Path) -> dict:
    """Write a store of ``n`` documents (plus the story) to ``path``; what was built."""
    texts, replies, _ = load_texts(data)
    corpus = RulesCorpus(texts, replies, n)
    start = time.perf_counter()
    with EmbeddedStore(StoreConfig(path=path)) as store:
        for done in range(0, n, BATCH):
            store.put_many(corpus.take(min(BATCH, n - done)))
            if (done + BATCH) % 100_000 == 0:
                print(f"  built {done + BATCH:,} of {n:,} ({time.perf_counter() - start:.0f} s)",
                      file=sys.stderr, flush=True)
        store.put_many(corpus.story())
        stored = store.count(None)
    return {"generator": GENERATOR, "docs": n, "stored": stored, "texts": len(texts),
            "build_s": round(time.perf_counter() - start, 1)}


def ensure_store(folder: Path, n: int, data: Path) -> dict:
    """The store of ``n`` documents in ``folder`` (built by a child process when missing)."""
    path, meta_path = folder / f"rules-{n}.db", folder / f"rules-{n}.json"
    if meta_path.exists() and path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("generator") == GENERATOR:
            meta["reused"] = True
            return meta
    for old in folder.glob(f"rules-{n}.*"):
        old.unlink()
    print(f"building a store of {n:,} documents in {folder} …", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, __file__, "--root", str(ROOT), "--build-only", str(path),
                    "--docs", str(n),
                    "--data", str(data)], check=True)
    meta = json.loads(meta_path.read_text())
    meta["reused"] = False
    return meta


# ---------------------------------------------------------------------------------------------
# The 20 rules, as rule files (checked by the real loader)
# ---------------------------------------------------------------------------------------------

RULES = {
    # frequency
    "neg-by-place": 'type="frequency"\nname="同一地点负面信息集中出现"\nwindow_minutes=60\n'
                    'late_allowance_minutes=10\nmin_count=3\ngroup_by=["place"]\n'
                    '[filters]\nnegative=true\n',
    "school-wall": 'type="frequency"\nname="学校安全"\nquery="学校"\n'
                   'terms=["围墙","倒塌","受伤"]\nwindow_minutes=60\nmin_count=3\n'
                   '[filters]\nchannels=["social","news","board"]\n',
    "complaints-by-source": 'type="frequency"\nquery="投诉"\nwindow_minutes=120\nmin_count=5\n'
                            'group_by=["source"]\n',
    "epidemic-volume": 'type="frequency"\nquery="疫情"\nwindow_minutes=60\nmin_count=20\n',
    "high-risk-by-place": 'type="frequency"\nwindow_minutes=30\nmin_count=2\n'
                          'group_by=["place"]\n[filters]\nmin_risk=0.8\n',
    "social-place-source": 'type="frequency"\nwindow_minutes=60\nmin_count=10\n'
                           'group_by=["place","source"]\n[filters]\nchannels=["social"]\n',
    "two-towns": 'type="frequency"\nwindow_minutes=60\nmin_count=5\n'
                 '[filters]\nplaces=["城关镇","东风镇"]\n',
    "messages-by-dept": 'type="frequency"\nwindow_minutes=1440\nmin_count=30\n'
                        'group_by=["department"]\n[filters]\nkinds=["message"]\n',
    # spike
    "spike-by-source": 'type="spike"\nwindow_minutes=120\nlate_allowance_minutes=10\n'
                       'ratio=3.0\nmin_count=5\ngroup_by=["source"]\n',
    "spike-demolition": 'type="spike"\nquery="拆迁 OR 征地"\nwindow_minutes=60\nratio=2.0\n'
                        'min_count=3\n',
    "drop-by-channel": 'type="spike"\ndirection="down"\nwindow_minutes=60\nratio=4.0\n'
                       'min_count=20\ngroup_by=["channel"]\n',
    "neg-swing-by-place": 'type="spike"\ndirection="both"\nwindow_minutes=180\nratio=3.0\n'
                          'min_count=5\ngroup_by=["place"]\n[filters]\nnegative=true\n',
    # flatline
    "quiet-sources": 'type="flatline"\nwindow_minutes=1440\nbelow=1\ngroup_by=["source"]\n'
                     'history_minutes=10080\n[filters]\ninclude_own=true\n',
    "quiet-gov-channels": 'type="flatline"\nwindow_minutes=180\nbelow=2\ngroup_by=["source"]\n'
                          'expect=["portal-0","portal-1","hotline-0","mailbox-0","mailbox-1"]\n'
                          '[filters]\nchannels=["portal","hotline","mailbox"]\n',
    # cross_channel
    "cross-school-wall": 'type="cross_channel"\nquery="学校 围墙"\nwindow_minutes=180\n'
                         'min_channels=2\n',
    "cross-estate-by-place": 'type="cross_channel"\nquery="停车 OR 物业"\nwindow_minutes=360\n'
                             'min_channels=3\ngroup_by=["place"]\n',
    # new_term
    "new-place": 'type="new_term"\nfield="place"\nhistory_days=30\n',
    "new-author-demolition": 'type="new_term"\nfield="author"\nquery="拆迁 OR 征地 OR 补偿"\n'
                             'history_days=30\n[filters]\nchannels=["social"]\n',
    # unanswered
    "unanswered-by-dept": 'type="unanswered"\nworkdays=5\ngroup_by=["department"]\n',
    "unanswered-hotline": 'type="unanswered"\nworkdays=3\n[filters]\nchannels=["hotline"]\n',
}


def load(folder: Path) -> list:
    """The 20 rules written as ``rules/<id>.toml`` and read back with ``load_rules``."""
    (folder / "rules").mkdir(parents=True, exist_ok=True)
    for rule_id, text in RULES.items():
        (folder / "rules" / f"{rule_id}.toml").write_text(
            text.replace("\n[filters]", '\nseverity="warning"\nchannels=["log"]\n[filters]', 1)
            if "[filters]" in text else text + 'severity="warning"\nchannels=["log"]\n',
            encoding="utf-8")
    rules, problems = load_rules(folder)
    if problems or len(rules) != len(RULES):
        sys.exit("rule files rejected: " + "; ".join(str(p) for p in problems))
    return [rules[i] for i in RULES]


def path_of(calls: dict) -> str:
    """How a rule counted, from the store calls it made: in the store (``count``,
    ``count_by_field``) or by reading its documents page by page (the scan fallback)."""
    return "store" if {"count", "count_by_field"} & set(calls) else "reads documents"


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------

class Counting:
    """The store, counting the calls made through it (the profile round only)."""

    def __init__(self, store):
        self.store, self.calls = store, {}

    def __getattr__(self, name):
        attr = getattr(self.store, name)
        if name not in ("search", "count", "count_by_field", "count_by_time", "get"):
            return attr

        def call(*args, **kwargs):
            start = time.perf_counter()
            out = attr(*args, **kwargs)
            n, s, docs = self.calls.get(name, (0, 0.0, 0))
            self.calls[name] = (n + 1, s + time.perf_counter() - start,
                                docs + (len(out.hits) if name == "search" else 0))
            return out
        return call


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def evaluate_size(path: Path, rules: list, rounds: int, calendar) -> dict:
    """Warm-up, learning, ``rounds`` timed rounds and a profile round over one store."""
    store = EmbeddedStore(StoreConfig(path=path))
    docs = store.count(None)
    now = NOW
    baseline_q = SearchQuery(since=now - timedelta(hours=1), until=now)
    evaluators = [make(r) for r in rules]
    learned, learn_ms = {}, {}
    for rule, ev in zip(rules, evaluators):
        if rule.type == "new_term":
            t0 = time.perf_counter()
            learned[rule.id] = ev.learn(store, {}, now)
            learn_ms[rule.id] = (time.perf_counter() - t0) * 1000
    active: dict[str, set] = {r.id: set() for r in rules}
    firings: dict[str, tuple[int, int]] = {}
    wall = {r.id: [] for r in rules}
    cpu = {r.id: [] for r in rules}
    totals, cpu_totals, base = [], [], []
    for k in range(rounds + 1):  # round 0 is the warm-up
        t0 = time.perf_counter()
        store.count(baseline_q)
        b = (time.perf_counter() - t0) * 1000
        round_wall = round_cpu = 0.0
        for rule, ev in zip(rules, evaluators):
            state = copy.deepcopy(learned.get(rule.id))  # outside the timer
            t0, c0 = time.perf_counter(), time.process_time()
            out = ev.evaluate(store, now, active=set(active[rule.id]), state=state,
                              calendar=calendar)
            w, c = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
            if k == 0:
                active[rule.id] = {f.key for f in out if not f.resolved}
                firings[rule.id] = (sum(not f.resolved for f in out),
                                    sum(f.resolved for f in out))
                continue
            wall[rule.id].append(w)
            cpu[rule.id].append(c)
            round_wall += w
            round_cpu += c
        if k:
            base.append(b)
            totals.append(round_wall)
            cpu_totals.append(round_cpu)
    calls = {}
    for rule, ev in zip(rules, evaluators):  # one more round, counting the store calls
        counting = Counting(store)
        ev.evaluate(counting, now, active=set(active[rule.id]),
                    state=copy.deepcopy(learned.get(rule.id)), calendar=calendar)
        calls[rule.id] = counting.calls
    load = os.getloadavg()[0]
    store.close()
    return {"docs": docs, "wall": wall, "cpu": cpu, "totals": totals, "cpu_totals": cpu_totals,
            "base": base, "firings": firings, "calls": calls, "learn_ms": learn_ms,
            "rss": rss_mb(), "load": load,
            "learned_values": {k: len(v.get("values", {})) for k, v in learned.items()}}


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------

def _calls(calls: dict) -> str:
    parts = []
    for name, (n, s, docs) in sorted(calls.items()):
        parts.append(f"{name} {n}" + (f" ({docs:,} docs)" if name == "search" else ""))
    return ", ".join(parts)


def report(results: list[dict], rules: list, info: dict) -> list[str]:
    """The Markdown section of this run."""
    tree, sha, dirty = tree_description(info["package"])
    sizes = " and ".join(f"{r['docs']:,}" for r in results)
    out = [f"## {info['heading']}", "", f"Command: `{info['command']}`", "",
           (f"- Code: `{tree}` (not a git checkout)." if sha == "unknown" else
            f"- Code: `{tree}` at commit `{sha[:10]}`"
            f"{' (uncommitted changes in monitor/)' if dirty else ''}."),
           f"- Date: {info['date']}; wall time {info['wall_s'] / 60:.1f} min; load average "
           f"{info['load']:.2f} at the start.",
           f"- Machine: {machine()}. Shared with other people's test runs: read the wall-clock "
           "figures beside the CPU ones and the baseline measured in the same rounds.",
           f"- Stores ({sizes} documents): {info['stores']}.",
           f"- Rounds: 1 warm-up + {info['rounds']} timed; medians. `now` = {NOW:%Y-%m-%d %H:%M} "
           "UTC (20:00 in Asia/Shanghai), the end of the corpus. Baseline: "
           "`store.count(SearchQuery(since=now - 1 h, until=now))`, timed at the start of every "
           "round. Peak RSS before any store was opened (rules, jieba loaded): "
           f"{info['rss0']:,.0f} MB.", ""]
    head = "| rule | type | counts in | " + " | ".join(
        f"{r['docs']:,}: ms (CPU) | fired" for r in results) + " |"
    out += ["### Per rule (median ms of the timed rounds)", "", head,
            "|---|---|---|" + "---|---|" * len(results)]
    for rule in rules:
        cells = []
        for r in results:
            f, resolved = r["firings"][rule.id]
            cells.append(f"{ms(median(r['wall'][rule.id]))} ({ms(median(r['cpu'][rule.id]))}) "
                         f"| {f}")
        out.append(f"| `{rule.id}` | {rule.type} | {path_of(results[-1]['calls'][rule.id])} | "
                   + " | ".join(cells) + " |")
    out += ["", "### Totals", "",
            "| documents | round total ms (median; min–max) | CPU ms | baseline count ms | "
            "total ÷ baseline | goal ≤ 1 s | peak RSS MB | load |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results:
        t, b = median(r["totals"]), median(r["base"])
        out.append(f"| {r['docs']:,} | {ms(t)} ({ms(min(r['totals']))}–{ms(max(r['totals']))}) "
                   f"| {ms(median(r['cpu_totals']))} | {b:.2f} | {t / b:,.0f} | "
                   f"{'yes' if t <= 1000 else '**no**'} | {r['rss']:,.0f} | {r['load']:.1f} |")
    big = results[-1]
    cpu_med = {r.id: median(big["cpu"][r.id]) for r in rules}
    whole = sum(cpu_med.values()) or 1.0
    top = sorted(cpu_med.items(), key=lambda kv: -kv[1])[:5]
    out += ["", f"Largest shares of the CPU time at {big['docs']:,}: " + ", ".join(
        f"`{k}` {v / whole:.0%}" for k, v in top) + "."]
    out += ["", "### Store calls per rule (one extra, untimed round)", "",
            "| rule | " + " | ".join(f"{r['docs']:,}" for r in results) + " |",
            "|---|" + "---|" * len(results)]
    for rule in rules:
        out.append(f"| `{rule.id}` | " + " | ".join(_calls(r["calls"][rule.id]) for r in results)
                   + " |")
    learn = [f"{r['docs']:,}: " + ", ".join(
        f"`{k}` {ms(v)} ms ({r['learned_values'][k]:,} values)" for k, v in r["learn_ms"].items())
        for r in results]
    out += ["", "Learning the `new_term` history once (before the timer; the service keeps the "
            "state): " + "; ".join(learn) + "."]
    return out


def main() -> None:
    """Parse arguments, build or reuse the stores, evaluate and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="import monitor and alerts from this tree")
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated store sizes")
    parser.add_argument("--quick", action="store_true", help="one store of 20,000 documents")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (after a warm-up)")
    parser.add_argument("--cache", type=Path, help="keep (and reuse) the stores in this folder")
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--write", type=Path, help="also write the report to this Markdown file")
    parser.add_argument("--append", action="store_true", help="add the report to --write's file")
    parser.add_argument("--heading", help="heading of this run's section")
    parser.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--docs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:  # the child that builds one store
        meta = build(args.build_only, args.docs, args.data)
        args.build_only.with_suffix(".json").write_text(json.dumps(meta))
        return
    if not args.data.is_dir():
        print(f"skipped: data folder {args.data} not found")
        return
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    t_start = time.time()
    info = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load": os.getloadavg()[0], "rounds": args.rounds,
            "package": ROOT / "monitor",
            "command": "python bench/bench_rules.py " + shlex.join(sys.argv[1:]),
            "heading": args.heading or f"Run of {datetime.now(timezone.utc):%Y-%m-%d}"}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))  # still clean up below
    tmp = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    folder = args.cache or tmp
    folder.mkdir(parents=True, exist_ok=True)
    try:
        metas = [ensure_store(folder, n, args.data) for n in sizes]
        info["stores"] = "; ".join(
            f"{m['stored']:,} stored ({m['docs']:,} + the story), "
            + f"built in {m['build_s']:.0f} s" + (" (reused from the cache)" if m["reused"] else "")
            for m in metas) + f"; {metas[0]['texts']:,} real texts cycled; 90 days, daily rhythm"
        rules = load(tmp)
        calendar = WorkCalendar.load(Path(__file__).resolve().parents[1] / "config")
        assert Path(sys.modules["alerts"].__file__).is_relative_to(ROOT), "alerts not from --root"
        textseg.tokenizer()  # jieba loaded before any timer
        textseg.segment("预热分词")
        info["rss0"] = rss_mb()
        results = []
        for n in sizes:
            print(f"evaluating over {n:,} documents …", file=sys.stderr, flush=True)
            results.append(evaluate_size(folder / f"rules-{n}.db", rules, args.rounds, calendar))
            r = results[-1]
            print(f"  total {median(r['totals']):,.0f} ms, baseline {median(r['base']):.2f} ms",
                  file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    info["wall_s"] = time.time() - t_start
    text = "\n".join(report(results, rules, info)) + "\n"
    print(text)
    if args.write:
        old = args.write.read_text(encoding="utf-8") if args.append and args.write.exists() else ""
        args.write.write_text((old.rstrip("\n") + "\n\n" if old else "") + text, encoding="utf-8")


if __name__ == "__main__":
    main()
