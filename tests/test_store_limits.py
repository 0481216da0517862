"""The embedded store's bounds: index prefix, search time limit, capped totals, lock retries,
letter numbers, kept-aside versions, upgrade from schema 1."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.documents import Document, Reply
from monitor.errors import StoreBusy, StoreError
from monitor.store import SearchQuery, StoreConfig, _sql
from monitor.store.embedded import EmbeddedStore

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def _doc(i: int, text: str, **fields) -> Document:
    fields.setdefault("published_at", NOW - timedelta(minutes=i))
    return Document.new("src", fields.pop("channel", "news"), f"https://example.gov.cn/{i}",
                        title=fields.pop("title", f"标题{i}"), text=text, **fields)


def _store(tmp_path: Path, **options) -> EmbeddedStore:
    return EmbeddedStore(StoreConfig(path=tmp_path / "docs.db", options=options))


def test_full_text_is_stored_but_only_a_prefix_is_indexed(tmp_path):
    filler = "公示名单" * (_sql.INDEX_TEXT_CHARS // 4)
    long_text = "开头道路改造" + filler + "结尾独有词汇隧道"
    with _store(tmp_path) as store:
        store.put(_doc(1, long_text))
        assert store.get(_doc(1, "").id).text == long_text  # nothing cut from what is kept
        assert store.search(SearchQuery(text="道路改造")).total == 1
        assert store.search(SearchQuery(text="隧道")).total == 0  # beyond the indexed prefix
        hit = store.search(SearchQuery(text="道路改造")).hits[0]
        assert "【道路改造】" in hit.snippet and len(hit.snippet) < 200


def test_letter_numbers_are_searchable(tmp_path):
    with _store(tmp_path) as store:
        store.put(_doc(1, "小区门口路灯坏了", channel="mailbox", kind="message",
                       platform_id="XZXX-2026-0042"))
        store.put(_doc(2, "另一封信", channel="mailbox", kind="message",
                       platform_id="XZXX-2026-0043"))
        hits = store.search(SearchQuery(text='"XZXX-2026-0042"')).hits
        assert [h.document.platform_id for h in hits] == ["XZXX-2026-0042"]


def test_totals_above_the_count_limit_are_lower_bounds(tmp_path):
    with _store(tmp_path, count_limit=5) as store:
        store.put_many([_doc(i, f"投诉第{i}号") for i in range(12)])
        result = store.search(SearchQuery(text="投诉", channels=["news"], limit=3))
        assert (result.total, result.total_is_lower_bound, len(result.hits)) == (5, True, 3)
        everything = store.search(SearchQuery(limit=3))
        assert everything.total == 5 and everything.total_is_lower_bound
        assert store.count() == 12  # count() stays exact
        few = store.search(SearchQuery(text="投诉第3号"))
        assert few.total_is_lower_bound is False


def test_sorted_search_over_many_matches_walks_the_sort_index(tmp_path, monkeypatch):
    from monitor.store import _search

    monkeypatch.setattr(_search, "WALK_ABOVE", 3)
    with _store(tmp_path) as store:
        docs = [_doc(i, f"交通拥堵{i}", analysis={"sentiment": {"score": i / 20}}) for i in range(20)]
        for i, d in enumerate(docs):
            d.risk = i / 20
        store.put_many(docs)
        newest = store.search(SearchQuery(text="交通", sort="newest", limit=3)).hits
        assert [h.document.id for h in newest] == [docs[0].id, docs[1].id, docs[2].id]
        risky = store.search(SearchQuery(text="交通", sort="risk", limit=2)).hits
        assert [h.document.id for h in risky] == [docs[19].id, docs[18].id]
        negative = store.search(SearchQuery(text="交通", sort="negative", limit=1, offset=1)).hits
        assert [h.document.id for h in negative] == [docs[1].id]


def test_relevance_over_very_many_matches_is_ranked_among_the_newest(tmp_path, monkeypatch):
    from monitor.store import _search

    monkeypatch.setattr(_search, "RANK_WINDOW", 5)
    with _store(tmp_path) as store:
        store.put_many([_doc(i, "防汛" * (1 + (i == 0))) for i in range(10)])
        result = store.search(SearchQuery(text="防汛"))
        assert result.total == 10
        assert any("ranked among" in n for n in result.notes)
        assert len(result.hits) == 5


def test_a_search_past_its_time_limit_returns_with_a_note(tmp_path):
    with _store(tmp_path) as store:
        store.put_many([_doc(i, f"群众反映问题{i}") for i in range(3000)])
        result = store.search(SearchQuery(text="群众", timeout=0.000001))
        assert result.total_is_lower_bound
        assert any("time limit" in n for n in result.notes)
        assert store.search(SearchQuery(text="群众")).total == 3000  # the next one is fine


def test_bad_options_are_refused():
    with pytest.raises(StoreError, match="count_limit"):
        EmbeddedStore(StoreConfig(options={"count_limit": -1}))
    with pytest.raises(StoreError, match="not an option"):
        EmbeddedStore(StoreConfig(options={"colour": 1}))


def test_a_writer_waits_for_another_process_lock_and_is_counted(tmp_path):
    with _store(tmp_path, write_timeout_seconds=20) as store:
        other = sqlite3.connect(tmp_path / "docs.db", isolation_level=None,
                                check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
        store.conn.execute("PRAGMA busy_timeout = 50")  # make the retry loop do the waiting
        assert store.put(_doc(1, "锁等待")) == "inserted"
        assert store.write_retries > 0
        assert store.lock_hold_ms and max(store.lock_hold_ms) < 5_000
        other.close()


def test_a_lock_held_past_the_write_timeout_raises_store_busy(tmp_path):
    with _store(tmp_path, write_timeout_seconds=0.3) as store:
        other = sqlite3.connect(tmp_path / "docs.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        store.conn.execute("PRAGMA busy_timeout = 50")
        began = time.monotonic()
        with pytest.raises(StoreBusy):
            store.put(_doc(1, "锁等待"))
        assert time.monotonic() - began < 10
        other.execute("COMMIT")
        other.close()
        assert store.count() == 0 and store.check_integrity() == []


def test_versions_kept_aside_are_listed_newest_first(tmp_path):
    with _store(tmp_path) as store:
        doc = _doc(1, "原文")
        store.put(doc)
        for i in range(7):
            store.keep_aside(_doc(1, f"空{i}"), "text is empty now")
        kept = store.kept_aside(doc.id)
        assert len(kept) == 5 and kept[0][2].text == "空6" and kept[0][1] == "text is empty now"
        assert store.get(doc.id).text == "原文"


def test_find_by_url_finds_documents_with_platform_ids(tmp_path):
    with _store(tmp_path) as store:
        doc = _doc(1, "信件", channel="mailbox", kind="message", platform_id="A-1")
        store.put(doc)
        assert store.find_by_url("src", "https://EXAMPLE.gov.cn/1#top").id == doc.id
        assert store.find_by_url("other", "https://example.gov.cn/1") is None


V1_SCHEMA = """
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (docno INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, source TEXT NOT NULL,
    channel TEXT NOT NULL, kind TEXT NOT NULL, url TEXT NOT NULL, published_at TEXT,
    crawled_at TEXT NOT NULL, t INTEGER NOT NULL, sentiment REAL, sentiment_label TEXT, risk REAL,
    replied INTEGER, own INTEGER NOT NULL, status TEXT, department TEXT, place TEXT,
    content_hash TEXT NOT NULL, fingerprint TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX documents_t ON documents (t);
CREATE INDEX documents_kind ON documents (kind, t);
CREATE VIRTUAL TABLE documents_fts USING fts5(title, text, reply, subwords,
    tokenize = 'unicode61 remove_diacritics 2');
"""


def test_a_schema_1_store_is_upgraded_in_place(tmp_path):
    from monitor.store import _fts

    path = tmp_path / "old.db"
    docs = [_doc(1, "老库里的投诉", channel="mailbox", kind="message", platform_id="OLD-7",
                 reply=Reply("已转交", "住建局")),
            _doc(2, "老库新闻")]
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.executemany("INSERT INTO store_meta VALUES (?, ?)",
                     [("schema_version", "1"), ("segmenter", _sql.SEGMENTER)])
    for no, d in enumerate(docs, 1):
        conn.execute("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,NULL,NULL,NULL,?,0,NULL,"
                     "NULL,NULL,'h','f',?)",
                     (no, d.id, d.source, d.channel, d.kind, d.url, None, "2026-11-28T00:00:00",
                      _sql.micros(d.published_at), 1 if d.replied else None,
                      json.dumps(d.to_dict(), ensure_ascii=False)))
        conn.execute("INSERT INTO documents_fts (rowid, title, text, reply, subwords) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (no, *_fts.index_row(d.title, d.text, d.reply.text if d.reply else "")))
    conn.commit()
    conn.close()
    with EmbeddedStore(StoreConfig(path=path)) as store:
        assert store.get(docs[0].id).reply.unit == "住建局"
        assert store.search(SearchQuery(text="投诉")).total == 1
        assert store.search(SearchQuery(text="OLD-7")).total == 1  # re-indexed with its number
        assert store.search(SearchQuery(replied=True)).total == 1
        assert store.check_integrity() == []
    with EmbeddedStore(StoreConfig(path=path)) as store:  # opening again changes nothing
        assert store.count() == 2


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "Asia/Kolkata", "America/New_York", "UTC"])
@pytest.mark.parametrize("interval", ["hour", "day", "week", "month"])
def test_count_by_time_agrees_with_python_in_fixed_and_daylight_saving_zones(tmp_path, tz,
                                                                             interval):
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    # around the US change of 2026-11-01 and across a month end, every 50 minutes
    start = datetime(2026, 10, 31, 3, 10, tzinfo=timezone.utc)
    times = [start + timedelta(minutes=50 * i) for i in range(90)]
    with _store(tmp_path) as store:
        store.put_many([_doc(i, "计数", published_at=t) for i, t in enumerate(times)])
        got = dict(store.count_by_time(None, interval, tz))
    expected: dict[str, int] = {}
    for t in times:
        label = _sql.bucket_label(t.astimezone(zone), interval)
        expected[label] = expected.get(label, 0) + 1
    assert {k: v for k, v in got.items() if v} == expected
    assert sum(got.values()) == len(times)


def test_very_long_texts_are_whole_in_get_and_cut_in_search_pages(tmp_path):
    cut = _sql.LONG_TEXT_CHARS
    long_text = "低保发放名册：张三 800元；" * (cut // 5)
    with _store(tmp_path) as store:
        doc = _doc(1, long_text)
        store.put(doc)
        assert store.get(doc.id).text == long_text
        assert _sql.TRUNCATED not in store.get(doc.id).extra
        hit = store.search(SearchQuery(text="低保")).hits[0]
        assert len(hit.document.text) == cut
        assert hit.document.extra[_sql.TRUNCATED] == len(long_text)
        changed = long_text + "末尾更正"  # a change beyond the cut is still a change
        assert store.put(_doc(1, changed)) == "updated"
        assert store.get(doc.id).text == changed
        assert store.put(_doc(1, "短文")) == "updated"  # no longer long: its long text goes
        assert store.get(doc.id).text == "短文"
        assert store.execute("SELECT count(*) FROM long_texts") == [(0,)]
        assert store.check_integrity() == []


def test_changing_texts_leave_a_consistent_contentless_index(tmp_path):
    import random

    rnd = random.Random(7)
    words = ["积水", "停车", "噪音", "拆迁", "供暖", "学校", "医院", "物业"]
    current: dict[int, str] = {}
    with _store(tmp_path) as store:
        for _ in range(12):
            batch = []
            for _ in range(40):
                n = rnd.randrange(25)
                word = rnd.choice(words)
                current[n] = word
                batch.append(_doc(n, f"第{n}号：{word}问题"))  # repeats within a batch too
            store.put_many(batch)
        assert store.check_integrity() == []
        for word in words:
            expected = {n for n, w in current.items() if w == word}
            hits = store.search(SearchQuery(text=word, limit=100)).hits
            assert {int(h.document.url.rsplit("/", 1)[1]) for h in hits} == expected, word


def test_a_schema_2_store_is_upgraded_to_a_contentless_index(tmp_path):
    path = tmp_path / "v2.db"
    with EmbeddedStore(StoreConfig(path=path)) as store:
        store.put_many([_doc(i, f"旧库第{i}号投诉") for i in range(5)])
    conn = sqlite3.connect(path, isolation_level=None)
    rows = conn.execute("SELECT docno FROM documents").fetchall()
    conn.execute("DROP TABLE documents_fts")
    conn.execute("CREATE VIRTUAL TABLE documents_fts USING fts5(title, text, reply, subwords, "
                 "tokenize = 'unicode61 remove_diacritics 2')")  # schema 2 kept its content
    for (no,) in rows:
        i = no - 1
        conn.execute(_sql.FTS_SQL, (no, *_sql.index_row(_doc(i, f"旧库第{i}号投诉"))))
    conn.execute("DROP INDEX documents_t")
    conn.execute("DROP INDEX documents_own")
    conn.execute("CREATE INDEX documents_t ON documents (t)")
    conn.execute("UPDATE store_meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()
    with EmbeddedStore(StoreConfig(path=path)) as store:
        assert store.search(SearchQuery(text="投诉")).total == 5
        assert store.put(_doc(1, "旧库第1号表扬")) == "updated"
        assert store.search(SearchQuery(text="投诉")).total == 4
        assert store.check_integrity() == []
        sql = store.execute("SELECT sql FROM sqlite_master WHERE name = 'documents_fts'")[0][0]
        assert "content" in sql


def test_absurd_offsets_and_limits_are_refused_with_a_message(tmp_path):
    with _store(tmp_path) as store:
        for query in (SearchQuery(offset=2 ** 63), SearchQuery(limit=10 ** 9),
                      SearchQuery(offset=-1)):
            with pytest.raises(StoreError, match="whole number from 0"):
                store.search(query)


_TEXTS = ("小区疫情防控通知", "道路交通拥堵严重", "疫情期间交通管制", "学校食堂卫生")


def _backfilled(store: EmbeddedStore) -> dict[str, Document]:
    """120 documents, one every 10 minutes back from NOW, stored out of time order: the newest
    40 first, then a back-fill of the oldest 40, then the middle 40 newest-first, then two
    old documents re-dated into the last hour (updated rows keep their row numbers)."""
    docs = [_doc(i * 10, _TEXTS[i % 4], channel=("news", "social", "board")[i % 3],
                 analysis={"sentiment": {"score": (i * 7 % 10) / 10}}) for i in range(120)]
    for i, d in enumerate(docs):
        d.risk = (i * 37 % 100) / 100
    store.put_many(docs[:40])
    store.put_many(docs[80:])
    for d in reversed(docs[40:80]):
        store.put(d)
    for i, minutes in ((110, 25), (95, 5)):
        docs[i].published_at = NOW - timedelta(minutes=minutes, seconds=30)
        store.put(docs[i])
    return {d.id: d for d in docs}


def _expected(docs: dict[str, Document], text: str, since, until) -> list[Document]:
    words = text.split(" OR ")
    return [d for d in docs.values() if any(w in d.text for w in words)
            and (since is None or d.published_at >= since)
            and (until is None or d.published_at < until)]


@pytest.mark.parametrize("walk", [3_000, 3])  # the sorted walk over the sort's index, too
def test_a_time_window_bounds_the_text_index_exactly_whatever_the_storage_order(
        tmp_path, monkeypatch, walk):
    from monitor.store import _search

    monkeypatch.setattr(_search, "WALK_ABOVE", walk)
    h = timedelta(hours=1)
    windows = [(NOW - h, NOW), (NOW - 3 * h, NOW - h), (NOW - 20 * h, NOW - 13 * h),
               (NOW - 20 * h, None), (None, NOW - 19 * h), (NOW - 30 * h, NOW + h),
               (NOW + h, NOW + 2 * h), (NOW - h - timedelta(seconds=1), NOW - h)]
    with _store(tmp_path) as store:
        docs = _backfilled(store)

        def answers(text, since, until):
            q = dict(text=text, since=since, until=until)
            out = {"count": store.count(SearchQuery(**q)),
                   "by_channel": store.count_by_field(SearchQuery(**q), "channel"),
                   "by_hour": store.count_by_time(SearchQuery(**q), "hour", "UTC")}
            for sort in ("newest", "oldest", "risk", "negative", "relevance"):
                r = store.search(SearchQuery(**q, sort=sort, limit=7))
                out[sort] = ([h.document.id for h in r.hits], r.total, r.total_is_lower_bound)
            out["all"] = {h.document.id for h in
                          store.search(SearchQuery(**q, sort="oldest", limit=1000)).hits}
            return out

        bounded = {}
        for text in ("疫情", "交通", "疫情 OR 交通"):
            for since, until in windows:
                got = answers(text, since, until)
                want = _expected(docs, text, since, until)
                assert got["count"] == len(want) == len(got["all"]), (text, since, until)
                assert got["all"] == {d.id for d in want}
                newest = sorted(want, key=lambda d: d.published_at, reverse=True)
                assert got["newest"][0] == [d.id for d in newest[:7]]
                assert got["oldest"][0] == [d.id for d in newest[::-1][:7]]
                assert got["risk"][0] == [d.id for d in sorted(
                    want, key=lambda d: (-d.risk, -d.published_at.timestamp()))[:7]]
                assert got["newest"][1] == len(want) and not got["newest"][2]
                by_channel = {}
                for d in want:
                    by_channel[d.channel] = by_channel.get(d.channel, 0) + 1
                assert got["by_channel"] == by_channel
                bounded[text, since, until] = got
        monkeypatch.setattr(_search, "BOUND_ROWS", 0)  # the same queries, never bounded
        for (text, since, until), got in bounded.items():
            assert answers(text, since, until) == got, (text, since, until)


def test_the_bound_is_used_for_a_short_window_and_not_for_a_wide_one(tmp_path, monkeypatch):
    from monitor.store import _search

    with _store(tmp_path) as store:
        _backfilled(store)
        hour = SearchQuery(text="疫情", since=NOW - timedelta(hours=1), until=NOW)
        where, params, _ = _search._base(store, hour)
        assert where[0] == _search._BOUND and params[0] <= params[1]
        # every row of the hour lies inside the bound, the re-dated back-fill rows included
        rows = store.execute("SELECT docno FROM documents WHERE t >= ? AND t < ?",
                             [_sql.micros(hour.since), _sql.micros(hour.until)])
        assert {no for no, in rows} and all(params[0] <= no <= params[1] for no, in rows)
        assert params[1] - params[0] > len(rows)  # stored out of order: a loose bound
        empty = SearchQuery(text="疫情", since=NOW + timedelta(hours=1))
        assert _search._base(store, empty) is _search._NOTHING
        monkeypatch.setattr(_search, "BOUND_ROWS", 5)  # the hour holds more than 5 documents
        where, _, _ = _search._base(store, hour)
        assert _search._BOUND not in where
