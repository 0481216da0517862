"""Benchmark of the embedded document store on real Chinese text.

Builds N documents (default 100,000) from the Weibo, news-title and message-board sets in
``../shared/data``, then measures, in the same run:

* writes: ``put_many`` in batches of 1,000 against a baseline of plain ``executemany`` of the same
  rows into a SQLite table without indexes or FTS (same pragmas);
* re-crawl: ``put_many`` of the same documents again (everything UNCHANGED);
* search: p50/p95 of ~30 realistic queries, with and without filters, against a baseline of a
  ``LIKE '%word%'`` scan of the baseline table with the same filters, sort and page size;
* peak RSS of the process and the size of both files.

Usage: ``python bench/bench_store.py [--docs N] [--data DIR] [--keep DIR] [--write FILE]``
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import platform
import random
import resource
import sqlite3
import sys
import tempfile
import time
import typing
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor import textseg  # noqa: E402
from monitor.documents import Document, Reply  # noqa: E402
from monitor.store import SearchQuery, StoreConfig  # noqa: E402
from monitor.store import _fts, _sql  # noqa: E402
from monitor.store.embedded import EmbeddedStore  # noqa: E402

BATCH = 1000
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)

QUERIES = ["投诉", "地铁", "疫情", "口罩", "医院", "物业", "小区 停车", '"武汉加油"', "学校 OR 教育",
           "房价", "股票", "志愿者", "政府", "感谢", "隔离", "疫苗", "交通", "噪音", "拆迁",
           "工资 拖欠", "垃圾", "医生 护士", "新冠肺炎", "公交", "高考", "房地产 OR 楼市", "暴雨",
           "安全隐患", "钟南山", "湖北 捐款"]

_POS = {"happy", "like", "happiness", "1", "2", "4"}  # covid labels: 2 optimism, 4 gratitude
_NEG = {"angry", "sad", "fear", "anger", "disgust", "sadness", "0", "5", "6"}


def _csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _texts(data: Path) -> list[tuple[str, str, str, str, str | None]]:
    """(channel, title, text, reply, label) rows from every available set."""
    rows: list[tuple[str, str, str, str, str | None]] = []

    def have(*parts: str) -> Path | None:
        path = data.joinpath(*parts)
        return path if path.exists() else None

    if p := have("nlpcc2013_weibo_emotion_spianmo", "Nlpcc2013Train.csv"):
        rows += [("social", "", r["文本"], "", r["标签"]) for r in _csv(p)]
    if p := have("smp2020_ewect_virus_msft-vivi", "virus_train_cleaned.json"):
        rows += [("social", "", r["content"], "", r["label"])
                 for r in json.loads(p.read_text(encoding="utf-8"))]
    if p := have("covid19_weibo_sentiment_nlpcc2020", "labeledData.csv"):
        rows += [("social", "", r["review"], "", r["label"]) for r in _csv(p)]
    if p := have("covid19_weibo_sentiment_nlpcc2020", "unlabeled_daily_sample_utf8"):
        for f in sorted(p.glob("*.csv")):
            rows += [("social", "", r.get("text") or "", "", None) for r in _csv(f)]
    if p := have("weibo_senti_100k_subset_forever1986", "weibo_senti_100k_subset2400.csv"):
        rows += [("social", "", r["review"].lstrip("\ufeff"), "", r["label"]) for r in _csv(p)]
    for name in ("dev.txt", "test.txt"):
        if p := have("thucnews_titles_649453932", name):
            for line in p.read_text(encoding="utf-8").splitlines():
                rows.append(("news", line.rsplit("\t", 1)[0], "", "", None))
    board = "tipdm2020_c_gov_message_board_sample"
    if p := have(board, "attachment2_messages_with_level1_label.csv"):
        rows += [("board", r["留言主题"], r["留言详情"].strip(), "", None) for r in _csv(p)]
    if p := have(board, "attachment4_messages_with_official_replies.csv"):
        rows += [("board", r["留言主题"], r["留言详情"].strip(), r["答复意见"].strip(), None)
                 for r in _csv(p)]
    return [r for r in rows if (r[1] or r[2]).strip()]


def build_documents(data: Path, n: int) -> list[Document]:
    """``n`` documents from the real texts, cycling with small variations when there are fewer."""
    texts = _texts(data)
    if not texts:
        raise SystemExit(f"no usable text found under {data}")
    rnd = random.Random(20261128)
    rnd.shuffle(texts)  # so that a small --docs run still mixes every set
    docs: list[Document] = []
    for i in range(n):
        channel, title, text, reply, label = texts[i % len(texts)]
        cycle = i // len(texts)
        if cycle:
            text = f"{text}（第{cycle}次转发）" if text else text
            title = f"{title}（{cycle}）" if title else title
        if channel == "social" and rnd.random() < 0.3:
            channel = rnd.choice(["mailbox", "hotline"])  # messages need a share of the volume
        kind = {"social": "post", "news": "article"}.get(channel, "message")
        score = (0.8 if label in _POS else 0.15 if label in _NEG else 0.5) + rnd.uniform(-.1, .1)
        published = NOW - timedelta(minutes=rnd.randrange(90 * 24 * 60))
        answered = kind == "message" and (bool(reply) or rnd.random() < 0.4)
        docs.append(Document.new(
            f"{'weibo' if channel == 'social' else channel}-{i % 7}", channel,
            f"https://example.gov.cn/{channel}/{i}", platform_id=str(i), title=title,
            text=text, kind=kind, published_at=None if rnd.random() < 0.05 else published,
            crawled_at=published + timedelta(hours=1), own=rnd.random() < 0.05,
            reply=Reply(reply or "您反映的问题已转交相关部门处理。") if answered else None,
            status=("replied" if answered else "pending") if kind == "message" else None,
            department=rnd.choice(["交通局", "住建局", "卫健委", "教育局"]) if kind == "message"
            else None,
            engagement={"likes": rnd.randrange(500), "reposts": rnd.randrange(100)},
            analysis={"sentiment": {"score": round(score, 3), "label": "negative" if score < .3
                                    else "positive" if score > .7 else "neutral"}},
            risk=round(rnd.random(), 3)))
    return docs


def baseline_insert(path: Path, docs: list) -> float:
    """Seconds to executemany the same rows into a plain table (no FTS, no indexes)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE plain (id TEXT PRIMARY KEY, source TEXT, channel TEXT, kind TEXT,"
                 " url TEXT, published_at TEXT, crawled_at TEXT, t INTEGER, sentiment REAL,"
                 " sentiment_label TEXT, risk REAL, replied INTEGER, own INTEGER, status TEXT,"
                 " department TEXT, place TEXT, content_hash TEXT, fingerprint TEXT, body TEXT,"
                 " title TEXT, text TEXT, reply TEXT)")
    sql = f"INSERT OR REPLACE INTO plain VALUES ({', '.join('?' * 22)})"
    start = time.perf_counter()
    for i in range(0, len(docs), BATCH):
        rows = []
        for d in docs[i:i + BATCH]:
            p = _sql.prepare(d)  # same JSON body, hashes and filter columns as the store
            rows.append((*p.values, d.title, d.text, d.reply.text if d.reply else ""))
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def like_search(conn: sqlite3.Connection, query: SearchQuery) -> int:
    """The baseline search: LIKE scans with the same filters, count plus one sorted page."""
    conds, params = _sql.filters(query)
    for group in _fts.parse(query.text):
        ors = []
        for term in group:
            ors.append("(d.title LIKE ? OR d.text LIKE ? OR d.reply LIKE ?)")
            params += [f"%{term.text}%"] * 3
        conds.append("(" + " OR ".join(ors) + ")")
    where = " WHERE " + " AND ".join(conds) if conds else ""
    total = conn.execute(f"SELECT count(*) FROM plain d{where}", params).fetchone()[0]
    order = _sql.order_by(query.sort, False).replace("d.docno", "d.rowid")
    conn.execute(f"SELECT d.body FROM plain d{where} ORDER BY {order} LIMIT 20", params).fetchall()
    return total


def queries() -> list[tuple[str, SearchQuery]]:
    """Each text query plain, then with typical filter combinations."""
    out: list[tuple[str, SearchQuery]] = []
    month_ago = NOW - timedelta(days=30)
    for i, text in enumerate(QUERIES):
        out.append(("text", SearchQuery(text=text)))
        filtered = [SearchQuery(text=text, channels=["social"], since=month_ago, sort="newest"),
                    SearchQuery(text=text, min_risk=0.6, sort="risk"),
                    SearchQuery(text=text, kinds=["message"], replied=False, sort="negative")]
        out.append(("text+filter", filtered[i % 3]))
    out.append(("filter only", SearchQuery(channels=["board", "mailbox"], replied=False)))
    out.append(("filter only", SearchQuery(since=month_ago, max_sentiment=0.3, sort="negative")))
    out.append(("filter only", SearchQuery(sources=["weibo-3"], sort="risk")))
    return out


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(n_docs: int, data: Path, workdir: Path) -> None:
    """Run every measurement and print a Markdown report."""
    t0 = time.perf_counter()
    docs = build_documents(data, n_docs)
    build_s = time.perf_counter() - t0
    chars = sum(len(d.title) + len(d.text) + (len(d.reply.text) if d.reply else 0) for d in docs)
    textseg.tokenizer()  # load jieba before timing anything

    base_s = baseline_insert(workdir / "baseline.db", docs)
    store = EmbeddedStore(StoreConfig(path=workdir / "documents.db"))
    start = time.perf_counter()
    for i in range(0, len(docs), BATCH):
        store.put_many(docs[i:i + BATCH])
    store_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(0, len(docs), BATCH):
        store.put_many(docs[i:i + BATCH])
    again_s = time.perf_counter() - start
    start = time.perf_counter()
    for d in docs:
        _fts.index_row(d.title, d.text, d.reply.text if d.reply else "")
    seg_s = time.perf_counter() - start

    conn = sqlite3.connect(workdir / "baseline.db")
    rows = []
    for label, q in queries():
        store.search(q)  # warm both once
        like_search(conn, q)
        a = time.perf_counter()
        total = store.search(q).total
        b = time.perf_counter()
        like_total = like_search(conn, q)
        c = time.perf_counter()
        rows.append((label, q, total, like_total, (b - a) * 1000, (c - b) * 1000))
    start = time.perf_counter()
    store.count_by_time(None, "day")
    store.count_by_field(None, "source")
    agg_ms = (time.perf_counter() - start) * 1000
    store.close()
    conn.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def size(name: str) -> float:
        return sum(p.stat().st_size for p in workdir.glob(name + "*")) / 2**20

    n = len(docs)
    print(f"## Embedded store benchmark ({n:,} documents)\n")
    print(f"Corpus: {n:,} documents, {chars / n:.0f} characters on average "
          f"(built in {build_s:.1f} s from {data}).\n")
    print("| Writes | seconds | docs/s | time ÷ baseline time |\n|---|---|---|---|")
    print(f"| baseline: executemany, no FTS, no indexes | {base_s:.1f} | {n / base_s:,.0f} "
          "| 1.00 |")
    print(f"| put_many (batches of {BATCH:,}), new documents | {store_s:.1f} | {n / store_s:,.0f} "
          f"| {store_s / base_s:.2f} |")
    print(f"| put_many again, all unchanged (re-crawl) | {again_s:.1f} | {n / again_s:,.0f} "
          f"| {again_s / base_s:.2f} |")
    print(f"\njieba segmentation alone (what put_many adds for the index): {seg_s:.1f} s, "
          f"{n / seg_s:,.0f} docs/s, {seg_s / store_s:.0%} of the put_many time.\n")
    print("| Search (ms) | queries | p50 | p95 | baseline LIKE p50 | LIKE p95 | LIKE p50 ÷ p50 |")
    print("|---|---|---|---|---|---|---|")
    for label in ("text", "text+filter", "filter only", "all"):
        sel = [r for r in rows if label == "all" or r[0] == label]
        fts = [r[4] for r in sel]
        like = [r[5] for r in sel]
        print(f"| {label} | {len(sel)} | {pct(fts, .5):.1f} | {pct(fts, .95):.1f} | "
              f"{pct(like, .5):.1f} | {pct(like, .95):.1f} | "
              f"{pct(like, .5) / max(pct(fts, .5), 1e-9):.1f} |")
    print(f"\ncount_by_time(day) + count_by_field(source) over everything: {agg_ms:.0f} ms.\n")
    print("| query | filters | FTS hits | LIKE hits | FTS ms | LIKE ms |")
    print("|---|---|---|---|---|---|")
    for label, q, total, like_total, f_ms, l_ms in rows:
        if label == "filter only":
            continue
        print(f"| {q.text} | {'yes, sort ' + q.sort if label != 'text' else '—'} | {total:,} | "
              f"{like_total:,} | {f_ms:.1f} | {l_ms:.1f} |")
    print(f"\nFiles: store {size('documents.db'):.0f} MB, baseline {size('baseline.db'):.0f} MB. "
          f"Peak RSS {rss_mb:.0f} MB.")
    print(f"Machine: {platform.machine()}, {platform.system()} {platform.release()}, Python "
          f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} CPUs.")


class Tee(io.TextIOBase):
    """Writes to several streams at once."""

    def __init__(self, *streams: typing.TextIO):
        self.streams = streams

    def write(self, text: str) -> int:
        """Write ``text`` to every stream."""
        for stream in self.streams:
            stream.write(text)
        return len(text)


def main() -> None:
    """Parse arguments and run the benchmark (skipped when the data folder is absent)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000, help="number of documents")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--keep", type=Path, help="write the databases here and keep them")
    parser.add_argument("--write", type=Path, help="also write the report to this Markdown file")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: data folder {args.data} not found")
        return
    out = io.StringIO()
    with contextlib.redirect_stdout(Tee(sys.stdout, out)):
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for old in args.keep.glob("*.db*"):
                old.unlink()
            run(args.docs, args.data, args.keep)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                run(args.docs, args.data, Path(tmp))
    if args.write:
        command = "PYTHONPATH=. python bench/bench_store.py " + " ".join(sys.argv[1:])
        args.write.write_text(f"# Benchmarks: document store\n\nCommand: `{command.strip()}`\n\n"
                              + out.getvalue(), encoding="utf-8")



if __name__ == "__main__":
    main()
