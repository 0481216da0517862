"""Search and counting for the embedded store (kept apart from writing to keep modules small).

Three rules keep every search fast at a million documents and bounded on hostile ones:

* a page of hits is found first, from the narrow ``documents`` rows (and the full-text index);
  bodies are read for that page only, and snippets are cut from them in Python, never by FTS5's
  ``snippet()`` (which re-reads every match);
* totals are counted up to ``count_limit`` (then shown as "10,000+"), as search engines do;
* everything runs under a deadline (``search_timeout_seconds``): when it passes, the search
  returns what it has with a note instead of running on;
* a text query with a time window reads the full-text index only between the smallest and the
  largest row number of that window (:data:`BOUND_ROWS`), so "疫情 in the last hour" does not
  look up every 疫情 of the last three months.  Exact whatever order the rows were stored in;
  fast because crawls store documents roughly in time order.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from monitor.documents import Document
from monitor.store import Hit, SearchQuery, SearchResult
from monitor.store import _fts, _sql

if TYPE_CHECKING:  # pragma: no cover
    from monitor.store.embedded import EmbeddedStore

PLAIN_SNIPPET_CHARS = 80
SNIPPET_CHARS = 72
#: Relevance is ranked among at most this many of the newest matches of a very common word
#: (bm25 must score every candidate; the newest are what a monitor is asked about).
RANK_WINDOW = 5_000
#: Above this many matches a sorted text search walks the sort's index instead of sorting.
WALK_ABOVE = 3_000
#: A text query whose time window holds at most this many documents reads the full-text index
#: only within the row numbers of that window (found from the time index: at most this many
#: index entries read); a wider window gains nothing from the bound and is not bounded.
BOUND_ROWS = 50_000
#: The bound, always first in ``where`` (its two parameters first in ``params``).
_BOUND = "documents_fts.rowid BETWEEN ? AND ?"

_NOTHING = object()  # the query text held nothing searchable: no document can match

_SORT_INDEX = {"newest": "documents_t", "oldest": "documents_t", "risk": "documents_risk",
               "negative": "documents_sentiment"}


class TimeLimit(Exception):
    """A query ran past the search deadline and was stopped."""


class Deadline:
    """Stops the store's queries once ``seconds`` have passed (SQLite progress handler)."""

    def __init__(self, store: "EmbeddedStore", seconds: float):
        self.store = store
        self.seconds = seconds
        self.expired = False
        self._until = 0.0

    def _check(self) -> int:
        if time.monotonic() > self._until:
            self.expired = True
            return 1
        return 0

    def __enter__(self) -> "Deadline":
        self._until = time.monotonic() + self.seconds
        self.store.conn.set_progress_handler(self._check, 2_000)
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.conn.set_progress_handler(None, 0)


def _base(store: "EmbeddedStore", query: SearchQuery | None) -> Any:
    """``(where, params, match)`` for ``query``, or _NOTHING when it cannot match.

    A text query with ``since`` or ``until`` gets :data:`_BOUND` first in ``where`` when its
    window holds at most BOUND_ROWS documents (see :func:`_row_bounds`)."""
    query = query or SearchQuery()
    where, params = _sql.filters(query)
    match = None
    if query.text and query.text.strip():
        match = _fts.to_match(query.text)
        if match is None:
            return _NOTHING
        if query.since is not None or query.until is not None:
            bounds = _row_bounds(store, query)
            if bounds is _NOTHING:
                return _NOTHING
            if bounds is not None:
                where, params = [_BOUND, *where], [*bounds, *params]
    return where, params, match


def _row_bounds(store: "EmbeddedStore", query: SearchQuery) -> Any:
    """``(lo, hi)``: the smallest and largest row number of the documents in the query's time
    window (every document of the window lies between them, in whatever order rows were
    stored); None when the window holds more than BOUND_ROWS; _NOTHING when it holds none.
    One read of the covering time index, at most BOUND_ROWS + 1 entries."""
    where, params = [], []
    for cond, value in (("d.t >= ?", query.since), ("d.t < ?", query.until)):
        if value is not None:
            where.append(cond)
            params.append(_sql.micros(value))
    n, lo, hi = store.execute(
        "SELECT count(*), min(docno), max(docno) FROM (SELECT d.docno FROM documents d "
        f"WHERE {' AND '.join(where)} LIMIT ?)", [*params, BOUND_ROWS + 1])[0]
    if n == 0:
        return _NOTHING
    return (lo, hi) if n <= BOUND_ROWS else None


def _bounds_of(where: list[str], params: list[Any]) -> tuple[int, int] | None:
    """The row-number bound :func:`_base` put first in ``where``, if any."""
    return (params[0], params[1]) if where and where[0] == _BOUND else None


def _from(where: list[str], match: str | None, params: list[Any]) -> tuple[str, list[Any]]:
    """``FROM … WHERE …`` joining the index and the narrow rows, with its parameters."""
    if match is None:
        sql = "FROM documents d" + (" WHERE " + " AND ".join(where) if where else "")
        return sql, list(params)
    # CROSS JOIN keeps the full-text index as the outer loop: SQLite would otherwise walk a
    # filter index and re-run the MATCH for every row it finds.
    sql = ("FROM documents_fts CROSS JOIN documents d ON d.docno = documents_fts.rowid "
           "WHERE documents_fts MATCH ?")
    if where:
        sql += " AND " + " AND ".join(where)
    return sql, [match, *params]


def _capped_count(store: "EmbeddedStore", sql: str, params: list[Any], cap: int) -> int:
    return store.execute(f"SELECT count(*) FROM (SELECT 1 {sql} LIMIT ?)", [*params, cap])[0][0]


def run_search(store: "EmbeddedStore", query: SearchQuery) -> SearchResult:
    """Documents matching ``query``, sorted and paged (see ``Store.search``)."""
    _sql.check_query(query)
    base = _base(store, query)
    if base is _NOTHING:
        return SearchResult(total=0, hits=[])
    where, params, match = base
    cap = store.count_limit
    notes: list[str] = []
    rows: list[tuple[int, Any]] = []
    total, lower = 0, False
    with store.time_limit(query.timeout) as deadline:
        try:
            matches, floor = (_window(store, match, _bounds_of(where, params)) if match
                              else (None, None))
            if query.limit and matches != 0:
                rows = _page(store, query, where, params, match, matches, floor, notes)
            total, lower = _total(store, where, params, match, matches, floor, cap)
        except TimeLimit:
            lower = True
            total = max(total, query.offset + len(rows))
            notes.append(f"the search stopped at its time limit ({deadline.seconds:g} s): "
                         + ("the hits shown are those found by then" if rows else
                            "no hit was found by then") + "; narrow it with more words or filters")
    docs = store.bodies([no for no, _ in rows])
    words = _snippet_words(query.text) if match else []
    hits = [Hit(document=docs[no], score=score,
                snippet=_snippet(docs[no], words) if match else _plain(docs[no]))
            for no, score in rows if no in docs]
    return SearchResult(total=total, hits=hits, notes=notes, total_is_lower_bound=lower)


def _window(store: "EmbeddedStore", match: str, bounds: tuple[int, int] | None = None
            ) -> tuple[int, int | None]:
    """How many documents match the text (up to RANK_WINDOW), and, when at least that many do,
    the row number of the RANK_WINDOW-th newest: one walk of the index, newest first (between
    the row-number ``bounds`` of a time window, when given)."""
    sql, params = _matching(match, bounds)
    count, oldest = store.execute(
        f"SELECT count(*), min(rowid) FROM ({sql} ORDER BY rowid DESC LIMIT ?)",
        [*params, RANK_WINDOW])[0]
    return count, (oldest if count >= RANK_WINDOW else None)


def _matching(match: str, bounds: tuple[int, int] | None) -> tuple[str, list[Any]]:
    """``SELECT rowid FROM documents_fts WHERE …``: the rows matching the text (within
    ``bounds``), with its parameters."""
    sql = "SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?"
    if bounds is None:
        return sql, [match]
    return sql + " AND rowid BETWEEN ? AND ?", [match, *bounds]


def _total(store: "EmbeddedStore", where: list[str], params: list[Any], match: str | None,
           matches: int | None, floor: int | None, cap: int) -> tuple[int, bool]:
    """The total to show, and whether it is a lower bound."""
    if matches == 0:
        return 0, False
    if match is not None and not where:  # the index count is the total: no filter to apply
        if floor is not None and cap > RANK_WINDOW:
            matches = _capped_count(store, "FROM documents_fts WHERE documents_fts MATCH ?",
                                    [match], cap + 1)
        if matches > cap or (floor is not None and matches >= cap):
            return min(matches, cap), True
        return matches, False
    extra = ["documents_fts.rowid >= ?"] if floor is not None else []
    sql, all_params = _from(where + extra, match, params + ([floor] if extra else []))
    total = _capped_count(store, sql, all_params, cap + 1)
    if total > cap:
        return cap, True
    return total, floor is not None  # beyond the newest matches more may pass the filters


def _page(store: "EmbeddedStore", query: SearchQuery, where: list[str], params: list[Any],
          match: str | None, matches: int | None, floor: int | None,
          notes: list[str]) -> list[tuple[int, Any]]:
    """Row numbers and scores of the requested page."""
    page = [query.limit, query.offset]
    sort = query.sort
    if match is None:
        sql, all_params = _from(where, None, params)
        return store.execute(f"SELECT d.docno, NULL {sql} ORDER BY {_sql.order_by(sort, False)} "
                             "LIMIT ? OFFSET ?", [*all_params, *page])
    if sort == "relevance":
        if floor is not None:
            notes.append(f"{RANK_WINDOW:,} or more documents match: ranked among the "
                         f"{RANK_WINDOW:,} collected last")
        extra = ["documents_fts.rowid >= ?"] if floor is not None else []
        sql, all_params = _from(where + extra, match, params + ([floor] if extra else []))
        return store.execute(f"SELECT d.docno, -{_sql.BM25} {sql} "
                             f"ORDER BY {_sql.BM25}, d.t DESC, d.docno DESC LIMIT ? OFFSET ?",
                             [*all_params, *page])
    if matches is not None and matches > WALK_ABOVE:  # (RANK_WINDOW when there are more)
        # Many matches: walk the sort's own index and keep the rows in the match set, instead
        # of looking up and sorting every match.
        bounds = _bounds_of(where, params)
        inner, inner_params = _matching(match, bounds)
        if bounds is not None:  # no documents_fts in this FROM: the bound is on d.docno
            where = ["d.docno BETWEEN ? AND ?", *where[1:]]
        sql = (f"FROM documents d INDEXED BY {_SORT_INDEX[sort]} WHERE "
               + " AND ".join([f"d.docno IN ({inner})", *where]))
        return store.execute(f"SELECT d.docno, NULL {sql} ORDER BY {_sql.order_by(sort, True)} "
                             "LIMIT ? OFFSET ?", [*inner_params, *params, *page])
    sql, all_params = _from(where, match, params)
    return store.execute(f"SELECT d.docno, -{_sql.BM25} {sql} "
                         f"ORDER BY {_sql.order_by(sort, True)} LIMIT ? OFFSET ?",
                         [*all_params, *page])


_OPERATORS = {"OR", "AND", "NOT"}


def _snippet_words(text: str) -> list[str]:
    """What to mark in a snippet: the words as typed (道路改造) and their segmented tokens."""
    typed = [w.strip("\"\u201c\u201d\u300c\u300d\u300e\u300f\uff02") for w in text.split()]
    typed = [w for w in typed if w and not w.startswith("-") and w.upper() not in _OPERATORS]
    return typed + _fts.search_words(text)


def _snippet(doc: Document, words: list[str]) -> str:
    """A highlighted piece of the first field (text, reply, title) that holds a query word."""
    lowered = [w.lower() for w in words if w]
    reply = doc.reply.text if doc.reply else ""
    for field, limit in ((doc.text, _sql.INDEX_TEXT_CHARS), (reply, _sql.INDEX_REPLY_CHARS),
                         (doc.title, _sql.INDEX_TITLE_CHARS)):
        piece = field[:limit]
        if piece and any(w in piece.lower() for w in lowered):
            return _fts.highlight(" ".join(piece.split()), words, SNIPPET_CHARS)
    return _plain(doc)


def _plain(doc: Document) -> str:
    body = " ".join((doc.text[:PLAIN_SNIPPET_CHARS * 4] or doc.title).split())
    if len(body) <= PLAIN_SNIPPET_CHARS:
        return body
    return body[:PLAIN_SNIPPET_CHARS] + "…"


def run_count(store: "EmbeddedStore", query: SearchQuery | None) -> int:
    """Number of documents matching ``query`` (all when None), exactly."""
    base = _base(store, query)
    if base is _NOTHING:
        return 0
    sql, params = _from(base[0], base[2], base[1])
    return store.execute(f"SELECT count(*) {sql}", params)[0][0]


def run_count_by_time(store: "EmbeddedStore", query: SearchQuery | None, interval: str,
                      tz: str) -> list[tuple[str, int]]:
    """Matching documents per ``interval`` bucket labelled in ``tz``, oldest first."""
    tzinfo = _sql.zone(interval, tz)
    base = _base(store, query)
    if base is _NOTHING:
        return []
    sql, params = _from(base[0], base[2], base[1])
    unit, shift = _sql.grouping(interval, tzinfo)
    rows = store.execute(f"SELECT (d.t + {shift}) / {unit} AS q, count(*) {sql} "
                         f"GROUP BY q ORDER BY q", params)
    return _sql.buckets(rows, interval, tzinfo, unit, shift)


def run_count_by_field(store: "EmbeddedStore", query: SearchQuery | None,
                       field: str) -> dict[str, int]:
    """Matching documents per value of ``field``, largest first; missing values left out."""
    column = _sql.check_field(field)
    base = _base(store, query)
    if base is _NOTHING:
        return {}
    sql, params = _from(base[0], base[2], base[1])
    joiner = " AND " if " WHERE " in sql else " WHERE "
    rows = store.execute(f"SELECT d.{column}, count(*) {sql}{joiner}d.{column} IS NOT NULL "
                         f"GROUP BY d.{column} ORDER BY 2 DESC, 1", params)
    return {str(value): count for value, count in rows}
