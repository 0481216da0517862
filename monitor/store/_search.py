"""Search and counting for the embedded store (kept apart from writing to keep modules small)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from monitor.documents import Document
from monitor.store import Hit, SearchQuery, SearchResult
from monitor.store import _fts, _sql

if TYPE_CHECKING:  # pragma: no cover
    from monitor.store.embedded import EmbeddedStore

SNIPPET_TOKENS = 24
PLAIN_SNIPPET_CHARS = 80

_NOTHING = object()  # the query text held nothing searchable: no document can match


def _base(query: SearchQuery | None) -> Any:
    """``(FROM … WHERE …, params, match)`` for ``query``, or _NOTHING when it cannot match."""
    query = query or SearchQuery()
    where, params = _sql.filters(query)
    match = None
    if query.text and query.text.strip():
        match = _fts.to_match(query.text)
        if match is None:
            return _NOTHING
        # CROSS JOIN keeps the full-text index as the outer loop: SQLite would otherwise walk a
        # filter index and re-run the MATCH for every row it finds.
        sql = ("FROM documents_fts CROSS JOIN documents d ON d.docno = documents_fts.rowid "
               "WHERE documents_fts MATCH ?")
        params = [match, *params]
        if where:
            sql += " AND " + " AND ".join(where)
    else:
        sql = "FROM documents d" + (" WHERE " + " AND ".join(where) if where else "")
    return sql, params, match


def run_search(store: "EmbeddedStore", query: SearchQuery) -> SearchResult:
    """Documents matching ``query``, sorted and paged (see ``Store.search``)."""
    _sql.check_query(query)
    base = _base(query)
    if base is _NOTHING:
        return SearchResult(total=0, hits=[])
    sql, params, match = base
    total = store.execute(f"SELECT count(*) {sql}", params)[0][0]
    if total == 0 or query.limit == 0 or query.offset >= total:
        return SearchResult(total=total, hits=[])
    score = f"-{_sql.BM25}" if match else "NULL"
    rows = store.execute(
        f"SELECT d.docno, d.body, {score} {sql} "
        f"ORDER BY {_sql.order_by(query.sort, match is not None)} LIMIT ? OFFSET ?",
        [*params, query.limit, query.offset])
    docs = [(no, Document.from_dict(json.loads(body)), sc) for no, body, sc in rows]
    snippets = _snippets(store, match, query.text, docs) if match else {}
    hits = [Hit(document=doc, score=sc, snippet=snippets.get(no) or _plain(doc))
            for no, doc, sc in docs]
    return SearchResult(total=total, hits=hits)


def _snippets(store: "EmbeddedStore", match: str, text: str,
              docs: list[tuple[int, Document, Any]]) -> dict[int, str]:
    """Highlighted snippets of the page's documents: text, then reply, then title."""
    marks = f"'{_fts.MARK_OPEN}', '{_fts.MARK_CLOSE}', '…', {SNIPPET_TOKENS}"
    numbers = [no for no, _, _ in docs]
    rows = store.execute(
        f"SELECT rowid, snippet(documents_fts, 1, {marks}), snippet(documents_fts, 2, {marks}), "
        f"snippet(documents_fts, 0, {marks}) FROM documents_fts "
        f"WHERE documents_fts MATCH ? AND rowid IN ({', '.join('?' * len(numbers))})",
        [match, *numbers])
    found: dict[int, str] = {}
    for no, *candidates in rows:
        for raw in candidates:
            if raw and _fts.MARK_OPEN in raw:
                found[no] = _fts.finish_snippet(raw)
                break
    words = _fts.search_words(text)
    for no, doc, _ in docs:
        if no not in found:  # matched inside a longer word (sub-word column)
            body = doc.text or (doc.reply.text if doc.reply else "") or doc.title
            found[no] = _fts.highlight(" ".join(body.split()), words)
    return found


def _plain(doc: Document) -> str:
    body = " ".join((doc.text or doc.title).split())
    if len(body) <= PLAIN_SNIPPET_CHARS:
        return body
    return body[:PLAIN_SNIPPET_CHARS] + "…"


def run_count(store: "EmbeddedStore", query: SearchQuery | None) -> int:
    """Number of documents matching ``query`` (all when None)."""
    base = _base(query)
    if base is _NOTHING:
        return 0
    sql, params, _ = base
    return store.execute(f"SELECT count(*) {sql}", params)[0][0]


def run_count_by_time(store: "EmbeddedStore", query: SearchQuery | None, interval: str,
                      tz: str) -> list[tuple[str, int]]:
    """Matching documents per ``interval`` bucket labelled in ``tz``, oldest first."""
    tzinfo = _sql.zone(interval, tz)
    base = _base(query)
    if base is _NOTHING:
        return []
    sql, params, _ = base
    rows = store.execute(f"SELECT d.t / {_sql.QUARTER_US} AS q, count(*) {sql} "
                         f"GROUP BY q ORDER BY q", params)
    return _sql.buckets(rows, interval, tzinfo)


def run_count_by_field(store: "EmbeddedStore", query: SearchQuery | None,
                       field: str) -> dict[str, int]:
    """Matching documents per value of ``field``, largest first; missing values left out."""
    column = _sql.check_field(field)
    base = _base(query)
    if base is _NOTHING:
        return {}
    sql, params, _ = base
    joiner = " AND " if " WHERE " in sql else " WHERE "
    rows = store.execute(f"SELECT d.{column}, count(*) {sql}{joiner}d.{column} IS NOT NULL "
                         f"GROUP BY d.{column} ORDER BY 2 DESC, 1", params)
    return {str(value): count for value, count in rows}
