"""The embedded document store: one SQLite file (WAL) with an FTS5 index over jieba-cut text.

It needs nothing installed and suits one office on one machine.  Each document has a narrow row
of the columns filters and sorts use (``documents``), its whole self as compressed JSON
(``bodies``, what ``get`` returns) and an entry in the full-text index described in
:mod:`monitor.store._fts` (a bounded prefix of long texts: see ``_sql.INDEX_TEXT_CHARS``).

Writers prepare everything (JSON, compression, segmentation) before taking SQLite's write lock,
hold it only for lookups and inserts, and retry with backoff while another process has it;
:class:`~monitor.errors.StoreBusy` tells the caller a batch could not be written in time.
"""
from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from monitor.documents import Document
from monitor.errors import StoreError
from monitor.store import SearchQuery, SearchResult, StoreConfig
from monitor.store import _body, _migrate, _search, _sql
from monitor.store._write import Writer, _is_busy

log = logging.getLogger(__name__)

_CHUNK = 500  # ids looked up per query

#: ``[store]`` options of the embedded backend and their defaults.
OPTIONS = {
    "write_timeout_seconds": 120.0,   # how long a batch waits for another writer's lock
    "search_timeout_seconds": 10.0,   # a search answers within this, with what it has
    "count_limit": 10_000,            # search totals above this are shown as "10,000+"
}


def _wal(conn: sqlite3.Connection) -> None:
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")


def _retry_busy(step: Callable[[], Any], seconds: float = 30.0) -> Any:
    """Run ``step``, retrying while another process holds a lock SQLite does not wait for
    (switching a new file to WAL; upgrading a read to a write while another writer commits)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02 + random.random() * 0.08)


class EmbeddedStore(Writer):
    """Store protocol on stdlib sqlite3; ``config.path`` None keeps everything in memory."""

    def __init__(self, config: StoreConfig):
        self.config = config
        self.path: Path | None = Path(config.path) if config.path else None
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        options = dict(OPTIONS)
        for key, value in (config.options or {}).items():
            if key not in OPTIONS:
                raise StoreError(f"[store] {key}: not an option of the embedded store; "
                                 f"known: {', '.join(OPTIONS)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise StoreError(f"[store] {key}: expected a positive number, not {value!r}")
            options[key] = value
        self.write_timeout = float(options["write_timeout_seconds"])
        self.search_timeout = float(options["search_timeout_seconds"])
        self.count_limit = int(options["count_limit"])
        self.lock_hold_ms: list[float] = []  # one entry per write transaction
        self.write_retries = 0  # times a write found the lock taken and waited
        self._old_rows: dict[int, tuple[int, tuple[str, str, str, str]]] = {}
        self._needs_rebuild: str | None = None
        self._conn = self._open()
        if self._needs_rebuild:
            log.warning("%r: the full-text index was built with %s; rebuilding it for %s "
                        "(about a minute per 300,000 documents)", self, self._needs_rebuild,
                        _sql.SEGMENTER)
            self.rebuild_index(only_if_stale=True)

    # -- opening and closing -------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        name = str(self.path) if self.path else ":memory:"
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{self.path}: cannot create its folder: {exc}") from None
        try:
            conn = sqlite3.connect(name, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{name}: cannot open the document store: {exc}") from None
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            _retry_busy(lambda: _wal(conn))
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute("PRAGMA cache_size = -65536")
            _retry_busy(lambda: self._check_and_create(conn, name))
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{name}: not a usable SQLite document store ({exc})") from None
        except StoreError:
            conn.close()
            raise
        return conn

    def _check_and_create(self, conn: sqlite3.Connection, name: str) -> None:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "store_meta" not in tables:
            raise StoreError(f"{name}: is a SQLite database of something else, not a document "
                             "store; point [store] path at a new file")
        if tables:
            meta = dict(conn.execute("SELECT key, value FROM store_meta"))
            if meta.get("schema_version") == "1":
                _migrate.from_v1(conn, name)
            elif meta.get("schema_version") == "2":
                _migrate.from_v2(conn, name)
        try:
            # IMMEDIATE: take the write lock before reading the schema, so that two processes
            # opening a new file at once wait for each other instead of failing to upgrade
            conn.executescript("BEGIN IMMEDIATE;" + _sql.SCHEMA + "COMMIT;")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if "fts5" in str(exc):
                raise StoreError(f"{name}: this Python's SQLite has no FTS5 module") from None
            raise
        meta = dict(conn.execute("SELECT key, value FROM store_meta"))
        if not meta:
            conn.executemany("INSERT OR IGNORE INTO store_meta VALUES (?, ?)",
                             [("schema_version", _sql.SCHEMA_VERSION),
                              ("segmenter", _sql.SEGMENTER)])
        elif meta.get("schema_version") != _sql.SCHEMA_VERSION:
            raise StoreError(f"{name}: document store schema {meta.get('schema_version')!r} "
                             f"is not the supported {_sql.SCHEMA_VERSION!r}; this version of "
                             "the monitor cannot read it")
        elif meta.get("segmenter") != _sql.SEGMENTER:
            # The index keeps no text: removing an entry takes the tokens it was made of, so an
            # index cut by another segmenter must be rebuilt before anything is written.
            self._needs_rebuild = meta.get("segmenter")

    def close(self) -> None:
        """Release the database connection; calling it again does nothing."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "EmbeddedStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.path) if self.path else ':memory:'})"

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection, or StoreError once the store is closed."""
        if self._conn is None:
            raise StoreError("the document store is closed")
        return self._conn

    def rebuild_index(self, only_if_stale: bool = False) -> int:
        """Re-segment every document into a fresh full-text index; return how many.

        ``only_if_stale``: do nothing if the index is already cut by this segmenter (another
        process may have rebuilt it while this one waited for the lock).
        """

        def work(conn: sqlite3.Connection) -> int:
            built = conn.execute("SELECT value FROM store_meta WHERE key = 'segmenter'").fetchone()
            if only_if_stale and built and built[0] == _sql.SEGMENTER:
                return 0
            conn.execute("INSERT INTO documents_fts (documents_fts) VALUES ('delete-all')")
            self._old_rows.clear()
            total = 0
            cursor = conn.execute("SELECT docno, body FROM bodies")
            while batch := cursor.fetchmany(_CHUNK):
                conn.executemany(_sql.FTS_SQL, [
                    (n, *_sql.index_row(Document.from_dict(_body.decode(b)))) for n, b in batch])
                total += len(batch)
            conn.execute("INSERT OR REPLACE INTO store_meta VALUES ('segmenter', ?)",
                         (_sql.SEGMENTER,))
            conn.execute("INSERT INTO documents_fts (documents_fts) VALUES ('optimize')")
            return total

        total = self._in_write_lock(work)
        self._needs_rebuild = None
        return total

    def check_integrity(self) -> list[str]:
        """Problems found in the file and the full-text index (empty when all is well)."""
        problems: list[str] = []
        with self._lock:
            conn = self.conn
            try:
                result = [r[0] for r in conn.execute("PRAGMA quick_check")]
                if result != ["ok"]:
                    problems.extend(f"quick_check: {r}" for r in result)
                conn.execute("INSERT INTO documents_fts (documents_fts) VALUES ('integrity-check')")
            except sqlite3.DatabaseError as exc:
                problems.append(f"full-text index: {exc}")
            counts = [conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                      for table in ("documents", "bodies", "documents_fts")]
            if len(set(counts)) != 1:
                problems.append("{} documents, {} bodies and {} full-text index rows".format(
                    *counts))
            orphans = conn.execute("SELECT count(*) FROM long_texts WHERE docno NOT IN "
                                   "(SELECT docno FROM documents)").fetchone()[0]
            if orphans:
                problems.append(f"{orphans} long texts without their document")
        return problems

    # -- reading -------------------------------------------------------------------------

    def get(self, doc_id: str) -> Document | None:
        """The document with this id, or None."""
        return self.get_many([doc_id]).get(doc_id)

    def get_many(self, ids: Iterable[str]) -> dict[str, Document]:
        """The stored documents among ``ids``, by id (missing ones left out)."""
        unique = list(dict.fromkeys(ids))
        found: dict[str, Document] = {}
        for i in range(0, len(unique), _CHUNK):
            part = unique[i:i + _CHUNK]
            rows = self.execute(
                f"SELECT d.id, b.body, l.text FROM documents d JOIN bodies b ON b.docno = d.docno "
                f"LEFT JOIN long_texts l ON l.docno = d.docno "
                f"WHERE d.id IN ({', '.join('?' * len(part))})", part)
            found.update((i, _whole(b, long)) for i, b, long in rows)
        return found

    def find_by_url(self, source: str, url: str) -> Document | None:
        """The document of ``source`` collected from ``url`` (any id scheme), or None."""
        rows = self.execute("SELECT d.id FROM documents d WHERE d.source = ? AND d.urlkey = ? "
                            "ORDER BY d.docno DESC LIMIT 1", [source, _sql.url_key(url)])
        return self.get(rows[0][0]) if rows else None

    def bodies(self, docnos: list[int]) -> dict[int, Document]:
        """Documents by row number, for one page of hits: a text longer than
        ``_sql.LONG_TEXT_CHARS`` comes cut to that, with ``extra["text_truncated_from"]``
        giving its whole length (``get`` returns it whole)."""
        if not docnos:
            return {}
        rows = self.execute(f"SELECT docno, body FROM bodies WHERE docno IN "
                            f"({', '.join('?' * len(docnos))})", docnos)
        return {n: Document.from_dict(_body.decode(b)) for n, b in rows}

    def search(self, query: SearchQuery) -> SearchResult:
        """Documents matching ``query``, sorted and paged as it says, within the time limit."""
        return self._read(_search.run_search, query)

    def count(self, query: SearchQuery | None = None) -> int:
        """Number of documents matching ``query`` (all when None)."""
        return self._read(_search.run_count, query)

    def count_by_time(self, query: SearchQuery | None, interval: str = "day",
                      tz: str = "Asia/Shanghai") -> list[tuple[str, int]]:
        """Matching documents per time bucket, oldest first, labelled in ``tz`` (gaps count 0)."""
        return self._read(_search.run_count_by_time, query, interval, tz)

    def count_by_field(self, query: SearchQuery | None, field: str) -> dict[str, int]:
        """Matching documents per value of ``field``, largest first (no value: left out)."""
        return self._read(_search.run_count_by_field, query, field)

    def _read(self, func: Callable[..., Any], *args: Any) -> Any:
        # One read transaction, so a count and its page see the same snapshot.
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN")
            try:
                return func(self, *args)
            finally:
                conn.execute("COMMIT")

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        """Run one read query under the store's lock (used by the search helpers)."""
        with self._lock:
            try:
                return self.conn.execute(sql, list(params)).fetchall()
            except sqlite3.Error as exc:
                if "interrupted" in str(exc):
                    raise _search.TimeLimit() from None
                raise StoreError(f"{self!r}: query failed: {exc}") from exc

    def time_limit(self, seconds: float | None):
        """Context manager: queries inside it stop (``_search.TimeLimit``) after ``seconds``."""
        return _search.Deadline(self, self.search_timeout if seconds is None else seconds)


def _whole(body: bytes, long_text: bytes | None) -> Document:
    doc = Document.from_dict(_body.decode(body))
    if long_text is not None:
        doc.text = _body.decode_text(long_text)
        doc.extra.pop(_sql.TRUNCATED, None)
    return doc
