"""Writing to the embedded store: prepare outside the lock, hold it briefly, retry when busy."""
from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from monitor.documents import Document
from monitor.errors import StoreBusy, StoreError
from monitor.store import INSERTED, UNCHANGED, UPDATED
from monitor.store import _body, _sql

log = logging.getLogger(__name__)

_CHUNK = 500  # ids looked up per query


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _analyze_when_doubled(conn: sqlite3.Connection, rows: int) -> None:
    """Refresh the query planner's statistics each time the store has doubled in size (from
    1,000 documents on): without them SQLite may walk the sentiment index for "last 30 days,
    negative" instead of the time index.  A sampled ANALYZE takes ≈ 0.4 s at 1,000,000."""
    if rows < 1000:
        return
    done = conn.execute("SELECT value FROM store_meta WHERE key = 'analyzed_rows'").fetchone()
    if done and rows < 2 * int(done[0]):
        return
    conn.execute("PRAGMA analysis_limit = 1000")
    conn.execute("ANALYZE")
    conn.execute("INSERT OR REPLACE INTO store_meta VALUES ('analyzed_rows', ?)", (str(rows),))


class Writer:
    """The write half of :class:`~monitor.store.embedded.EmbeddedStore` (a mixin: it uses the
    store's ``conn``, ``_lock``, ``write_timeout``, ``lock_hold_ms`` and ``write_retries``)."""

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
        return self.write_prepared(self.prepare(documents))

    def prepare(self, documents: Iterable[Document]) -> list[_sql.Prepared]:
        """Everything expensive about writing ``documents`` (JSON, compression, segmentation of
        new and changed ones), done without the write lock; hand the result to
        :meth:`write_prepared`."""
        prepared = [_sql.prepare(d) for d in documents]
        known = self._known([p.doc.id for p in prepared])
        changed: dict[int, int] = {}  # docno → stored content hash, for documents whose text changed
        for p in prepared:
            found = known.get(p.doc.id)
            if found is None or found[1] != p.content_hash:
                p.fts = _sql.index_row(p.doc)
                if found is not None:
                    changed[found[0]] = found[1]
        # the index keeps no text (contentless FTS5): removing a document's old entry takes the
        # tokens it was indexed with, cut again from the stored version
        old = self._old_index_rows(list(changed))
        for docno, row in old.items():
            self._old_rows[docno] = (changed[docno], row)
        return prepared

    def _old_index_rows(self, docnos: list[int]) -> dict[int, tuple[str, str, str, str]]:
        stored = self.bodies(docnos)
        return {n: _sql.index_row(doc) for n, doc in stored.items()}

    def write_prepared(self, prepared: list[_sql.Prepared]) -> Counter:
        """Write prepared documents in one short transaction; counts per outcome."""
        counts: Counter = Counter({INSERTED: 0, UPDATED: 0, UNCHANGED: 0})
        if prepared:
            self._in_write_lock(lambda conn: self._write_rows(conn, prepared, counts))
        return counts

    def _in_write_lock(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``work`` in one write transaction, retrying while another process holds the lock.

        Raises StoreBusy when the lock could not be had within ``write_timeout`` seconds (the
        caller keeps the batch: see monitor.spool), StoreError for any other failure.
        """
        deadline = time.monotonic() + self.write_timeout
        delay = 0.05
        while True:
            with self._lock:
                conn = self.conn
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    began = time.perf_counter()
                    result = work(conn)
                    conn.execute("COMMIT")
                    self.lock_hold_ms.append((time.perf_counter() - began) * 1000)
                    return result
                except BaseException as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    if not isinstance(exc, sqlite3.Error):
                        raise
                    if not _is_busy(exc):
                        raise StoreError(f"{self!r}: write failed: {exc}") from exc
            self.write_retries += 1
            if time.monotonic() + delay > deadline:
                raise StoreBusy(f"{self!r}: the store stayed locked by another writer for "
                                f"{self.write_timeout:g} s")
            log.info("%r is locked by another writer; retrying in %.2f s", self, delay)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)

    def _known(self, ids: list[str]) -> dict[str, tuple[int, int, int]]:
        """docno, content hash and fingerprint of the stored documents among ``ids``."""
        found: dict[str, tuple[int, int, int]] = {}
        unique = list(dict.fromkeys(ids))
        with self._lock:
            for i in range(0, len(unique), _CHUNK):
                part = unique[i:i + _CHUNK]
                for row in self.conn.execute(
                        f"SELECT id, docno, content_hash, fingerprint FROM documents "
                        f"WHERE id IN ({', '.join('?' * len(part))})", part):
                    found[row[0]] = (row[1], row[2], row[3])
        return found

    def _write_rows(self, conn: sqlite3.Connection, prepared: list[_sql.Prepared],
                    counts: Counter) -> None:
        known = self._known([p.doc.id for p in prepared])  # again: under the lock now
        before = dict(known)  # what the store holds, before this batch changes anything
        next_no = conn.execute("SELECT coalesce(max(docno), 0) + 1 FROM documents").fetchone()[0]
        first_new = next_no
        rows: dict[int, list[Any]] = {}
        bodies: dict[int, bytes] = {}
        longs: dict[int, bytes | None] = {}
        fts_rows: dict[int, tuple[str, str, str, str]] = {}
        stale: set[int] = set()  # rows whose old index entry must go (no-op if not written yet)
        for p in prepared:
            found = known.get(p.doc.id)
            if found is None:
                docno, status = next_no, INSERTED
                next_no += 1
            elif found[2] == p.fingerprint:
                counts[UNCHANGED] += 1
                continue
            else:
                docno, status = found[0], UPDATED
            if found is None or found[1] != p.content_hash:
                # rare: another writer changed it since the lookup above
                fts_rows[docno] = p.fts if p.fts is not None else _sql.index_row(p.doc)
                if found is not None:
                    stale.add(docno)
            counts[status] += 1
            rows[docno] = [docno, *p.values]
            bodies[docno] = p.body
            longs[docno] = p.long_text
            known[p.doc.id] = (docno, p.content_hash, p.fingerprint)
        if rows:
            conn.executemany(_sql.INSERT_SQL, rows.values())
            conn.executemany(_sql.BODY_SQL, bodies.items())
            conn.executemany(_sql.LONG_SQL, [(n, t) for n, t in longs.items() if t is not None])
            shorter = [(n,) for n, t in longs.items() if t is None and n < first_new]
            if shorter:
                conn.executemany("DELETE FROM long_texts WHERE docno = ?", shorter)
        stale = {n for n in stale if n < first_new}  # rows already in the store and its index
        if stale:
            hashes = {found[0]: found[1] for found in before.values()}
            remove = {}
            for n in stale:
                seen = self._old_rows.pop(n, None)
                if seen is not None and seen[0] == hashes.get(n):
                    remove[n] = seen[1]
            missing = [n for n in stale if n not in remove]  # another writer changed them since
            remove.update(self._old_index_rows(missing))
            conn.executemany(_sql.FTS_DELETE_SQL, [(n, *row) for n, row in remove.items()])
        if fts_rows:
            conn.executemany(_sql.FTS_SQL, [(n, *row) for n, row in fts_rows.items()])
        if next_no > first_new:
            _analyze_when_doubled(conn, next_no - 1)

    def keep_aside(self, document: Document, reason: str, keep: int = 5) -> None:
        """Keep a version of a stored document that was not written over it (it had less in
        it, or was an error page), with why; only the newest ``keep`` per document stay."""
        body = _sql.prepare(document).body
        seen = datetime.now(timezone.utc).isoformat()

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO kept_aside (id, seen_at, reason, body) VALUES (?, ?, ?, ?)",
                         (document.id, seen, reason, body))
            conn.execute("DELETE FROM kept_aside WHERE id = ? AND rowid NOT IN (SELECT rowid "
                         "FROM kept_aside WHERE id = ? ORDER BY rowid DESC LIMIT ?)",
                         (document.id, document.id, keep))

        self._in_write_lock(work)

    def kept_aside(self, doc_id: str) -> list[tuple[datetime, str, Document]]:
        """Versions kept aside for a document, newest first: (seen at, reason, document)."""
        rows = self.execute("SELECT seen_at, reason, body FROM kept_aside WHERE id = ? "
                            "ORDER BY rowid DESC", [doc_id])
        return [(datetime.fromisoformat(seen), reason, Document.from_dict(_body.decode(body)))
                for seen, reason, body in rows]
