"""SQL of the embedded store: schema, row building, filters, sort orders and time buckets."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.documents import Document, canonical_url
from monitor.errors import StoreError
from monitor.store import COUNT_FIELDS, INTERVALS, SORTS, SearchQuery
from monitor.store import _body, _fts

SCHEMA_VERSION = "3"


def _segmenter() -> str:
    # Both cutters' versions: the contentless index removes an entry by re-cutting the stored
    # text, so any change in how text is cut must rebuild the index (done on opening).
    found = []
    for package in ("jieba", "rjieba"):
        try:
            found.append(f"{package}-{version(package)}")
        except PackageNotFoundError:  # rjieba is optional at run time; jieba is required
            found.append(f"{package}-none")
    return f"{'+'.join(found)}/nohmm-subwords-1/prefix-{INDEX_TEXT_CHARS}"


#: How much of a document the full-text index holds (characters); the whole text is stored.
#: One 10 MB page of a repetitive 公示 list would otherwise cost every search that touches it
#: seconds (ranking and highlighting walk every occurrence of a word).
INDEX_TITLE_CHARS, INDEX_TEXT_CHARS, INDEX_REPLY_CHARS = 1_000, 20_000, 10_000
#: A text longer than this is kept whole in ``long_texts``; the body that search pages read
#: holds this much of it, and ``extra[TRUNCATED]`` says how long the whole text is.
LONG_TEXT_CHARS = 100_000
TRUNCATED = "text_truncated_from"

#: Changes when the way text is cut into index tokens changes (the index must then be rebuilt).
SEGMENTER = _segmenter()

# Filter and sort columns live in a narrow row, the document itself (compressed) in ``bodies``:
# a search touches the narrow rows of its candidates and the bodies of one page only.
SCHEMA = """
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    docno INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    t INTEGER NOT NULL,           -- microseconds since 1970 of published_at, else crawled_at
    sentiment REAL,
    sentiment_label TEXT,
    risk REAL,
    replied INTEGER,              -- messages: 1 answered / 0 waiting; NULL for other kinds
    own INTEGER NOT NULL,
    status TEXT,
    department TEXT,
    place TEXT,
    withdrawn INTEGER,            -- microseconds since 1970 when first found taken down, or NULL
    urlkey INTEGER NOT NULL,      -- 64 bits of sha1(canonical url): finds a page by its address
    content_hash INTEGER NOT NULL,
    fingerprint INTEGER NOT NULL  -- every field but crawled_at: equal = nothing to write
);
CREATE TABLE IF NOT EXISTS bodies (docno INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS long_texts (docno INTEGER PRIMARY KEY, text BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS kept_aside (
    id TEXT NOT NULL,             -- the stored document this version would have replaced
    seen_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS kept_aside_id ON kept_aside (id);
CREATE INDEX IF NOT EXISTS documents_t ON documents (t, sentiment, risk);
CREATE INDEX IF NOT EXISTS documents_own ON documents (t) WHERE own = 1;
CREATE INDEX IF NOT EXISTS documents_source ON documents (source, t);
CREATE INDEX IF NOT EXISTS documents_channel ON documents (channel, t);
CREATE INDEX IF NOT EXISTS documents_replied ON documents (replied, t) WHERE replied IS NOT NULL;
CREATE INDEX IF NOT EXISTS documents_risk ON documents (risk);
CREATE INDEX IF NOT EXISTS documents_sentiment ON documents (sentiment);
CREATE VIRTUAL TABLE IF NOT EXISTS documents_fts USING fts5(
    title, text, reply, subwords, content = '', tokenize = 'unicode61 remove_diacritics 2'
);
"""

#: Column order of ``documents`` as written by :func:`prepare`.
ROW_COLUMNS = ("docno", "id", "source", "channel", "kind", "t", "sentiment", "sentiment_label",
               "risk", "replied", "own", "status", "department", "place", "withdrawn", "urlkey",
               "content_hash", "fingerprint")
INSERT_SQL = (f"INSERT OR REPLACE INTO documents ({', '.join(ROW_COLUMNS)}) "
              f"VALUES ({', '.join('?' * len(ROW_COLUMNS))})")
BODY_SQL = "INSERT OR REPLACE INTO bodies (docno, body) VALUES (?, ?)"
LONG_SQL = "INSERT OR REPLACE INTO long_texts (docno, text) VALUES (?, ?)"
FTS_DELETE_SQL = ("INSERT INTO documents_fts (documents_fts, rowid, title, text, reply, subwords) "
                  "VALUES ('delete', ?, ?, ?, ?, ?)")
FTS_SQL = ("INSERT INTO documents_fts (rowid, title, text, reply, subwords) "
           "VALUES (?, ?, ?, ?, ?)")

#: bm25 weights of title, text, reply, subwords: a word in the title counts most.
BM25 = "bm25(documents_fts, 4.0, 1.0, 1.0, 0.5)"

_ORDER = {
    "newest": "d.t DESC, d.docno DESC",
    "oldest": "d.t ASC, d.docno ASC",
    "risk": "d.risk DESC NULLS LAST, d.t DESC, d.docno DESC",
    "negative": "d.sentiment ASC NULLS LAST, d.t DESC, d.docno DESC",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)
QUARTER_US = 15 * 60 * 1_000_000  # every time zone offset in use is a multiple of 15 minutes
MAX_FILLED_BUCKETS = 100_000
MAX_LIMIT, MAX_OFFSET = 10_000, 10_000_000  # a page; how deep paging may go


def micros(value: datetime) -> int:
    """Microseconds since 1970 (naive datetimes are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // _MICRO


def hash64(text: str) -> int:
    """A signed 64-bit integer from sha1 of ``text`` (compact row keys and change markers)."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big", signed=True)


def url_key(url: str) -> int:
    """The ``urlkey`` of a page address (its canonical form, as document ids use)."""
    return hash64(canonical_url(url))


_FIELDS = tuple(f.name for f in dataclasses.fields(Document))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value else None


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def dumps(data: Any, sort_keys: bool = False) -> str:
    """Compact JSON; values JSON cannot hold (datetimes, sets…) are stored as text."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys,
                      default=_json_default)


@dataclass
class Prepared:
    """A document turned into column values, before it gets a row number."""

    doc: Document
    values: list[Any]  # ROW_COLUMNS without docno
    body: bytes
    content_hash: int
    fingerprint: int
    fts: tuple[str, str, str, str] | None = None  # the segmented index row, when computed
    long_text: bytes | None = None  # the whole text of a very long document, compressed


def prepare(doc: Document) -> Prepared:
    """Column values and stored body of ``doc`` (no segmentation: see :func:`index_row`)."""
    if not isinstance(doc, Document):
        raise StoreError(f"can only store Document objects, not {type(doc).__name__}")
    if not doc.id:
        raise StoreError(f"document {doc.url!r} has no id")
    # Same content as doc.to_dict(), without its deep copy (json.dumps walks the values anyway).
    data = {name: getattr(doc, name) for name in _FIELDS}
    data["published_at"] = _iso(doc.published_at)
    data["withdrawn_at"] = _iso(doc.withdrawn_at)
    crawled = _iso(data.pop("crawled_at"))
    data["reply"] = doc.reply.to_dict() if doc.reply else None
    long_text = None
    if len(doc.text) > LONG_TEXT_CHARS:
        # the body a search page reads holds a prefix; get() adds the rest (see long_texts)
        long_text = _body.encode(doc.text)
        data["text"] = doc.text[:LONG_TEXT_CHARS]
        data["extra"] = {**doc.extra, TRUNCATED: len(doc.text)}
    content_hash = hash64(doc.content_hash)
    without_crawled = dumps(data, sort_keys=True)
    fingerprint = hash64(f"{without_crawled}{content_hash}")
    body = _body.encode(f'{without_crawled[:-1]},"crawled_at":{json.dumps(crawled)}}}')
    when = doc.published_at or doc.crawled_at
    sentiment = doc.analysis.get("sentiment")
    label = sentiment.get("label") if isinstance(sentiment, dict) else None
    values = [doc.id, doc.source, doc.channel, doc.kind, micros(when), doc.sentiment,
              label if isinstance(label, str) else None,
              float(doc.risk) if isinstance(doc.risk, (int, float)) else None,
              (1 if doc.replied else 0) if doc.is_message else None, 1 if doc.own else 0,
              doc.status, doc.department, doc.place,
              micros(doc.withdrawn_at) if doc.withdrawn_at else None, url_key(doc.url),
              content_hash, fingerprint]
    return Prepared(doc, values, body, content_hash, fingerprint, long_text=long_text)


def index_row(doc: Document) -> tuple[str, str, str, str]:
    """The segmented full-text row of ``doc``: bounded prefixes of title (with the letter
    number, so that 信件编号 are searchable), text and reply, plus their sub-words."""
    title = doc.title[:INDEX_TITLE_CHARS]
    if doc.platform_id:
        title = f"{title} {doc.platform_id[:100]}"
    reply = doc.reply.text[:INDEX_REPLY_CHARS] if doc.reply else ""
    return _fts.index_row(title, doc.text[:INDEX_TEXT_CHARS], reply)


def check_query(query: SearchQuery) -> None:
    """Raise StoreError for a sort, limit or offset no backend could honour."""
    if query.sort not in SORTS:
        raise StoreError(f"unknown sort {query.sort!r}; expected one of {', '.join(SORTS)}")
    if not isinstance(query.limit, int) or not 0 <= query.limit <= MAX_LIMIT:
        raise StoreError(f"limit must be a whole number from 0 to {MAX_LIMIT:,}, "
                         f"not {query.limit!r}")
    if not isinstance(query.offset, int) or not 0 <= query.offset <= MAX_OFFSET:
        raise StoreError(f"offset must be a whole number from 0 to {MAX_OFFSET:,}, "
                         f"not {query.offset!r}")


def filters(query: SearchQuery) -> tuple[list[str], list[Any]]:
    """WHERE conditions (on table alias ``d``) and their parameters for every filter set."""
    where: list[str] = []
    params: list[Any] = []
    for column, values in (("source", query.sources), ("channel", query.channels),
                           ("kind", query.kinds), ("place", query.places),
                           ("department", query.departments)):
        if values:
            values = list(values)
            where.append(f"d.{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    for cond, value in (("d.t >= ?", query.since), ("d.t < ?", query.until)):
        if value is not None:
            where.append(cond)
            params.append(micros(value))
    for cond, value in (("d.sentiment >= ?", query.min_sentiment),
                        ("d.sentiment <= ?", query.max_sentiment),
                        ("d.risk >= ?", query.min_risk)):
        if value is not None:
            where.append(cond)
            params.append(float(value))
    for column, flag in (("replied", query.replied), ("own", query.own)):
        if flag is not None:
            where.append(f"d.{column} = ?")
            params.append(1 if flag else 0)
    return where, params


def order_by(sort: str, has_text: bool) -> str:
    """ORDER BY clause for ``sort`` (relevance needs a text query, otherwise it means newest)."""
    if sort == "relevance":
        return f"{BM25} ASC, d.t DESC, d.docno DESC" if has_text else _ORDER["newest"]
    return _ORDER[sort]


def check_field(field: str) -> str:
    """The column for a ``count_by_field`` field, or StoreError."""
    if field not in COUNT_FIELDS:
        raise StoreError(f"cannot count by {field!r}; expected one of {', '.join(COUNT_FIELDS)}")
    return field


def zone(interval: str, tz: str) -> ZoneInfo:
    """Check ``interval`` and return the time zone named ``tz``."""
    if interval not in INTERVALS:
        raise StoreError(f"unknown interval {interval!r}; expected one of {', '.join(INTERVALS)}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise StoreError(f"unknown time zone {tz!r}, expected a name like 'Asia/Shanghai'"
                         ) from None


def bucket_label(local: datetime | date, interval: str) -> str:
    """Label of the bucket holding ``local``: 2026-11-28 09:00, 2026-11-28, 2026-W48, 2026-11."""
    if interval == "hour":
        return local.strftime("%Y-%m-%d %H:00")
    if interval == "day":
        return local.strftime("%Y-%m-%d")
    if interval == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.strftime("%Y-%m")


def _all_labels(first: datetime, last: datetime, interval: str, tzinfo: ZoneInfo) -> list[str]:
    labels: list[str] = []
    if interval == "hour":
        step, cur = timedelta(hours=1), first.replace(minute=0, second=0, microsecond=0)
        end = last.astimezone(timezone.utc)
        cur = cur.astimezone(timezone.utc)
        while cur <= end:
            label = bucket_label(cur.astimezone(tzinfo), interval)
            if not labels or labels[-1] != label:
                labels.append(label)
            cur += step
        return labels
    day, stop = first.date(), last.date()
    if interval == "week":
        day -= timedelta(days=day.weekday())
    elif interval == "month":
        day = day.replace(day=1)
    while day <= stop:
        labels.append(bucket_label(day, interval))
        if interval == "day":
            day += timedelta(days=1)
        elif interval == "week":
            day += timedelta(days=7)
        else:
            day = (day + timedelta(days=32)).replace(day=1)
    return labels


HOUR_US, DAY_US = 3600 * 1_000_000, 86400 * 1_000_000


@functools.lru_cache(maxsize=64)
def fixed_offset_us(tzinfo: ZoneInfo) -> int | None:
    """The zone's UTC offset in microseconds if it has not changed since 1992 and is not
    scheduled to change before 2040 (Asia/Shanghai, UTC, Asia/Kolkata…); None otherwise."""
    offsets = {datetime(year, month, 1, tzinfo=timezone.utc).astimezone(tzinfo).utcoffset()
               for year in range(1992, 2041) for month in (1, 4, 7, 10)}
    if len(offsets) != 1:
        return None
    return next(iter(offsets)) // _MICRO


def grouping(interval: str, tzinfo: ZoneInfo) -> tuple[int, int]:
    """``(unit_us, shift_us)``: group rows by ``(t + shift) / unit`` in SQL.

    In a zone with a fixed offset, by local hour or day directly (a few thousand groups a
    year); otherwise by quarter hour in UTC, labelled one by one in Python (every offset in use
    is a multiple of 15 minutes, and daylight saving moves it).
    """
    shift = fixed_offset_us(tzinfo)
    if shift is None:
        return QUARTER_US, 0
    return (HOUR_US if interval == "hour" else DAY_US), shift


def buckets(rows: list[tuple[int, int]], interval: str, tzinfo: ZoneInfo,
            unit_us: int = QUARTER_US, shift_us: int = 0) -> list[tuple[str, int]]:
    """Merge counts ``(group number, count)`` (see :func:`grouping`) into labelled buckets, gaps
    as 0."""
    if not rows:
        return []

    def local(key: int) -> datetime:
        return datetime.fromtimestamp((key * unit_us - shift_us) / 1_000_000, tzinfo)

    counts: dict[str, int] = {}
    for key, count in rows:
        label = bucket_label(local(key), interval)
        counts[label] = counts.get(label, 0) + count
    first, last = local(rows[0][0]), local(rows[-1][0])
    hours = (last - first).total_seconds() / 3600
    if interval == "hour" and hours > MAX_FILLED_BUCKETS:
        return list(counts.items())  # too wide to fill every empty hour
    return [(label, counts.get(label, 0)) for label in _all_labels(first, last, interval, tzinfo)]
