"""Upgrading an embedded store written by an earlier version, in place, in one transaction.

Schema 2 → 3: the full-text index keeps no copy of the segmented text (contentless FTS5; it was
a third of the file), and the time index covers sentiment and risk (filter-only queries over a
month no longer look up every row).

Schema 1 (the foundation) kept the whole document as JSON text in a wide ``documents`` row
with eight indexes and 40-character hashes.  Schema 2 keeps a narrow row, the body compressed in
``bodies`` and versions kept aside.  The full-text index keeps its rows (same row numbers and
tokens); only documents whose index row differs under the new rules (a letter number to index,
text beyond the indexed prefix) are re-segmented.
"""
from __future__ import annotations

import json
import logging
import sqlite3

from monitor.documents import Document
from monitor.errors import StoreError

log = logging.getLogger(__name__)

_V1_INDEXES = ("documents_t", "documents_source", "documents_channel", "documents_kind",
               "documents_own", "documents_replied", "documents_risk", "documents_sentiment")
_BATCH = 1000


def from_v1(conn: sqlite3.Connection, name: str) -> int:
    """Rewrite a schema-1 store as schema 2; return the number of documents moved."""
    from monitor.store import _sql

    log.warning("%s: upgrading the document store from schema 1 to %s", name,
                _sql.SCHEMA_VERSION)
    moved = 0
    try:
        conn.execute("BEGIN IMMEDIATE")
        for index in _V1_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {index}")
        conn.execute("ALTER TABLE documents RENAME TO documents_v1")
        for statement in _sql.SCHEMA.split(";\n"):  # (executescript would commit first)
            if statement.strip():
                conn.execute(statement)
        cursor = conn.execute("SELECT docno, body FROM documents_v1 ORDER BY docno")
        while batch := cursor.fetchmany(_BATCH):
            rows, bodies, reindex, longs = [], [], [], []
            for docno, body in batch:
                doc = Document.from_dict(json.loads(body))
                prepared = _sql.prepare(doc)
                rows.append([docno, *prepared.values])
                bodies.append((docno, prepared.body))
                if prepared.long_text is not None:
                    longs.append((docno, prepared.long_text))
                if doc.platform_id or len(doc.text) > _sql.INDEX_TEXT_CHARS or (
                        doc.reply and len(doc.reply.text) > _sql.INDEX_REPLY_CHARS) or \
                        len(doc.title) > _sql.INDEX_TITLE_CHARS:
                    reindex.append((docno, _sql.index_row(doc)))
            conn.executemany(_sql.INSERT_SQL, rows)
            conn.executemany(_sql.BODY_SQL, bodies)
            conn.executemany(_sql.LONG_SQL, longs)
            if reindex:
                conn.executemany("DELETE FROM documents_fts WHERE rowid = ?",
                                 [(n,) for n, _ in reindex])
                conn.executemany(_sql.FTS_SQL, [(n, *row) for n, row in reindex])
            moved += len(batch)
        conn.execute("DROP TABLE documents_v1")
        _contentless(conn)
        conn.executemany("INSERT OR REPLACE INTO store_meta VALUES (?, ?)",
                         [("schema_version", _sql.SCHEMA_VERSION),
                          ("segmenter", _sql.SEGMENTER)])
        conn.execute("COMMIT")
    except (sqlite3.Error, ValueError, TypeError, KeyError) as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StoreError(f"{name}: could not upgrade the document store from schema 1 "
                         f"(nothing was changed): {exc}") from exc
    log.warning("%s: %d documents upgraded; `VACUUM` (sqlite3) returns the freed space", name,
                moved)
    return moved


def _contentless(conn: sqlite3.Connection) -> None:
    """Move the full-text index into a contentless table, keeping every row and token."""
    from monitor.store import _sql

    conn.execute("ALTER TABLE documents_fts RENAME TO documents_fts_old")
    for statement in _sql.SCHEMA.split(";\n"):
        if "documents_fts" in statement:
            conn.execute(statement)
    conn.execute("INSERT INTO documents_fts (rowid, title, text, reply, subwords) "
                 "SELECT rowid, title, text, reply, subwords FROM documents_fts_old")
    conn.execute("DROP TABLE documents_fts_old")


def from_v2(conn: sqlite3.Connection, name: str) -> None:
    """Rewrite a schema-2 store as schema 3 (contentless index, covering time index)."""
    from monitor.store import _sql

    log.warning("%s: upgrading the document store from schema 2 to %s", name,
                _sql.SCHEMA_VERSION)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DROP INDEX IF EXISTS documents_t")
        _contentless(conn)
        for statement in _sql.SCHEMA.split(";\n"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT OR REPLACE INTO store_meta VALUES ('schema_version', ?)",
                     (_sql.SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StoreError(f"{name}: could not upgrade the document store from schema 2 "
                         f"(nothing was changed): {exc}") from exc
