"""The embedded document store: one SQLite file (WAL) with an FTS5 index over jieba-cut text.

It needs nothing installed and suits one office on one machine.  Documents are kept whole as
JSON (so ``get`` returns every field as it was stored) next to the columns that filters and
sorts use; the full-text index is described in :mod:`monitor.store._fts`.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from monitor.documents import Document
from monitor.errors import StoreError
from monitor.store import (INSERTED, UNCHANGED, UPDATED, SearchQuery, SearchResult,
                           StoreConfig)
from monitor.store import _fts, _search, _sql

log = logging.getLogger(__name__)

_CHUNK = 500  # documents looked up and written per round inside one put_many transaction


class EmbeddedStore:
    """Store protocol on stdlib sqlite3; ``config.path`` None keeps everything in memory."""

    def __init__(self, config: StoreConfig):
        self.config = config
        self.path: Path | None = Path(config.path) if config.path else None
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        if config.options:
            log.warning("the embedded store has no options; ignored: %s",
                        ", ".join(sorted(config.options)))
        self._conn = self._open()

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
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute("PRAGMA cache_size = -32000")
            self._check_and_create(conn, name)
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
        try:
            conn.executescript("BEGIN;" + _sql.SCHEMA + "COMMIT;")
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
                             f"is not the supported {_sql.SCHEMA_VERSION!r}")
        elif meta.get("segmenter") != _sql.SEGMENTER:
            log.warning("%s: full-text index was built with %s; run rebuild_index() for %s",
                        name, meta.get("segmenter"), _sql.SEGMENTER)

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

    # -- writing -------------------------------------------------------------------------

    def put(self, document: Document) -> str:
        """Insert or update one document; return INSERTED, UPDATED or UNCHANGED."""
        counts = self._write([document])
        return next(status for status, n in counts.items() if n)

    def put_many(self, documents: Iterable[Document]) -> dict[str, int]:
        """Upsert many documents in one transaction; return counts per outcome."""
        counts = self._write(documents)
        return {INSERTED: counts[INSERTED], UPDATED: counts[UPDATED],
                UNCHANGED: counts[UNCHANGED]}

    def _write(self, documents: Iterable[Document]) -> Counter:
        counts: Counter = Counter({INSERTED: 0, UPDATED: 0, UNCHANGED: 0})
        with self._lock:
            conn = self.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                next_no = conn.execute("SELECT coalesce(max(docno), 0) + 1 FROM documents"
                                       ).fetchone()[0]
                for chunk in _chunks(documents, _CHUNK):
                    next_no = self._write_chunk(conn, chunk, next_no, counts)
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"{self!r}: write failed: {exc}") from exc
                raise
        return counts

    def _write_chunk(self, conn: sqlite3.Connection, docs: list[Document], next_no: int,
                     counts: Counter) -> int:
        prepared = [_sql.prepare(d) for d in docs]
        ids = list({p.doc.id for p in prepared})
        known: dict[str, tuple[int, str, str]] = {
            row[0]: (row[1], row[2], row[3]) for row in conn.execute(
                f"SELECT id, docno, content_hash, fingerprint FROM documents "
                f"WHERE id IN ({', '.join('?' * len(ids))})", ids)}
        rows: dict[int, list[Any]] = {}
        fts_rows: dict[int, _sql.Prepared] = {}
        stale: set[int] = set()  # rows whose old index entry must go (no-op if not written yet)
        for p in prepared:
            found = known.get(p.doc.id)
            if found is None:
                docno, status = next_no, INSERTED
                next_no += 1
                fts_rows[docno] = p
            elif found[2] == p.fingerprint:
                counts[UNCHANGED] += 1
                continue
            else:
                docno, status = found[0], UPDATED
                if found[1] != p.content_hash:
                    fts_rows[docno] = p
                    stale.add(docno)
            counts[status] += 1
            rows[docno] = [docno, *p.values]
            known[p.doc.id] = (docno, p.content_hash, p.fingerprint)
        if rows:
            conn.executemany(_sql.INSERT_SQL, rows.values())
        if stale:
            conn.executemany("DELETE FROM documents_fts WHERE rowid = ?", [(n,) for n in stale])
        if fts_rows:
            conn.executemany(
                "INSERT INTO documents_fts (rowid, title, text, reply, subwords) "
                "VALUES (?, ?, ?, ?, ?)",
                [(n, *_index_row(p.doc)) for n, p in fts_rows.items()])
        return next_no

    def rebuild_index(self) -> int:
        """Re-segment every document into a fresh full-text index; return how many."""
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM documents_fts")
                total = 0
                cursor = conn.execute("SELECT docno, body FROM documents")
                while batch := cursor.fetchmany(_CHUNK):
                    conn.executemany(
                        "INSERT INTO documents_fts (rowid, title, text, reply, subwords) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [(n, *_index_row(Document.from_dict(json.loads(b)))) for n, b in batch])
                    total += len(batch)
                conn.execute("INSERT OR REPLACE INTO store_meta VALUES ('segmenter', ?)",
                             (_sql.SEGMENTER,))
                conn.execute("INSERT INTO documents_fts (documents_fts) VALUES ('optimize')")
                conn.execute("COMMIT")
            except BaseException as exc:
                conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"{self!r}: rebuilding the index failed: {exc}") from exc
                raise
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
            rows = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
            indexed = conn.execute("SELECT count(*) FROM documents_fts").fetchone()[0]
            if rows != indexed:
                problems.append(f"{rows} documents but {indexed} full-text index rows")
        return problems

    # -- reading -------------------------------------------------------------------------

    def get(self, doc_id: str) -> Document | None:
        """The document with this id, or None."""
        with self._lock:
            row = self.conn.execute("SELECT body FROM documents WHERE id = ?",
                                    (doc_id,)).fetchone()
        return Document.from_dict(json.loads(row[0])) if row else None

    def search(self, query: SearchQuery) -> SearchResult:
        """Documents matching ``query``, sorted and paged as it says."""
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
                raise StoreError(f"{self!r}: query failed: {exc}") from exc


def _index_row(doc: Document) -> tuple[str, str, str, str]:
    return _fts.index_row(doc.title, doc.text, doc.reply.text if doc.reply else "")


def _chunks(items: Iterable[Document], size: int) -> Iterator[list[Document]]:
    chunk: list[Document] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
