"""What every rule type shares: firings, windows, filters, grouping and counting over a Store.

Only Store methods are used (``search``, ``count``, ``count_by_field``), so rules work on any
backend.  Counting goes to the store when it can (no group field, or one the store counts by);
otherwise matching documents are read page by page (at most SCAN_LIMIT) and grouped here.
"""
from __future__ import annotations

import logging
from functools import lru_cache
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Iterator, Protocol

from alerts.rules import EVENT_UNAVAILABLE, Rule
from monitor.documents import Document
from monitor.errors import MonitorError
from monitor.store import COUNT_FIELDS, SearchQuery, Store

log = logging.getLogger(__name__)

#: Most documents one evaluation reads when it must group or filter outside the store.
SCAN_LIMIT = 20_000
PAGE = 500
#: Group fields a SearchQuery filters by (as ``<field>s``): a group of these is asked of the
#: store exactly (its top documents, its count).
STORE_FILTERS = ("source", "channel", "kind", "place", "department")

Group = tuple[tuple[str, str], ...]


class RuleUnavailable(MonitorError):
    """A rule cannot be evaluated yet (e.g. ``group_by = event`` before event detection)."""


class EventProvider(Protocol):
    """Plugs event detection into ``group_by = event``: the events a document belongs to."""

    def events(self, document: Document) -> list[str]:
        """Ids of the events ``document`` is part of (empty when none)."""


@dataclass
class Firing:
    """One rule firing (or resolving) for one group: what becomes an alert later."""

    rule: Rule
    group: dict[str, str]
    count: int
    window: tuple[datetime, datetime]
    documents: list[str] = field(default_factory=list)  # top N document ids
    reason: str = ""  # a Chinese one-liner
    resolved: bool = False
    #: When the condition first held, if not the window's end (several per-document matches
    #: joined into one firing: the first of them)
    first: datetime | None = None

    @property
    def key(self) -> Group:
        """The group as a hashable key (the caller's state keeps firing groups by it)."""
        return group_key(self.group)


def group_key(group: dict[str, str]) -> Group:
    """``{"place": "城关镇"}`` → ``(("place", "城关镇"),)``."""
    return tuple(sorted(group.items()))


def aware(now: datetime) -> datetime:
    """``now`` checked: rules compare event times, so a naive clock is refused."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
    return now


def window_at(rule: Rule, now: datetime, minutes: int | None = None) -> tuple[datetime, datetime]:
    """The window a rule looks at when evaluated at ``now``: ``[start, end)`` on event time,
    ending ``late_allowance_minutes`` before ``now`` so that late documents still count."""
    end = aware(now) - timedelta(minutes=rule.params.get("late_allowance_minutes", 0))
    return end - timedelta(minutes=minutes or rule.params["window_minutes"]), end


def event_time(doc: Document) -> datetime:
    """The time a document counts at: published, or crawled when the page gave no date."""
    return doc.published_at or doc.crawled_at


def store_text(rule: Rule) -> str:
    """The store query of a rule: its query AND any one of its watch-list terms."""
    parts = [rule.query] if rule.query else []
    if rule.terms:
        parts.append(" OR ".join('"' + t.replace('"', " ") + '"' for t in rule.terms))
    return " ".join(parts)


def base_query(rule: Rule, since: datetime | None, until: datetime | None, **extra
               ) -> SearchQuery:
    """The SearchQuery of a rule's text and filters in ``[since, until)``."""
    f = rule.filters
    return SearchQuery(text=store_text(rule), sources=list(f.sources), channels=list(f.channels),
                       kinds=list(f.kinds), places=list(f.places),
                       departments=list(f.departments), min_risk=f.min_risk,
                       max_sentiment=f.max_sentiment, own=None if f.include_own else False,
                       since=since, until=until, **extra)


def _norm(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    return "".join(ch for ch in folded if ch.isalnum())


@lru_cache(maxsize=512)
def _haystack(title: str, text: str, reply: str) -> str:
    """A document's title, text and reply, normalised once for every rule that looks at it
    (the strings' hashes are cached by Python, so the key costs nothing after the first)."""
    return _norm(" ".join((title, text, reply)))


@lru_cache(maxsize=1024)
def _needles(query: str, terms: tuple[str, ...]) -> tuple[tuple, tuple[str, ...]]:
    """A rule's query as (negated, normalised words) groups and its normalised terms."""
    from monitor.store._fts import parse

    groups = []
    for group in parse(query) if query else []:
        words = tuple(w for w in (_norm(t.text) for t in group) if w)
        if words:
            groups.append((group[0].negated, words))
    return tuple(groups), tuple(n for n in (_norm(t) for t in terms) if n)


def text_matches(rule: Rule, doc: Document) -> bool:
    """Whether a document's title, text or reply holds the rule's query and one of its terms.

    Matched as characters (after NFKC, case folding and dropping punctuation), with the store's
    query syntax (:func:`monitor.store._fts.parse`); docs/rules.md says where that differs
    from the store's word-based search.
    """
    hay = _haystack(doc.title or "", doc.text or "", doc.reply.text or "" if doc.reply else "")
    groups, terms = _needles(rule.query or "", tuple(rule.terms))
    for negated, words in groups:
        if negated:
            if words[0] in hay:
                return False
        elif not any(w in hay for w in words):
            return False
    if rule.terms:
        return any(t in hay for t in terms)
    return True


def filters_pass(rule: Rule, doc: Document) -> bool:
    """Whether a document passes the rule's ``[filters]`` (own channels excluded by default)."""
    f = rule.filters
    if doc.own and not f.include_own:
        return False
    for values, value in ((f.channels, doc.channel), (f.sources, doc.source),
                          (f.kinds, doc.kind), (f.places, doc.place),
                          (f.departments, doc.department)):
        if values and value not in values:
            return False
    if f.min_risk is not None and (doc.risk is None or doc.risk < f.min_risk):
        return False
    if f.max_sentiment is not None and (doc.sentiment is None or doc.sentiment > f.max_sentiment):
        return False
    return True


def doc_matches(rule: Rule, doc: Document) -> bool:
    """Filters and text together: the per-document test, no store query."""
    return filters_pass(rule, doc) and text_matches(rule, doc)


def field_values(doc: Document, name: str, events: EventProvider | None = None) -> list[str]:
    """A document's values of a group field (empty when it has none)."""
    if name == "event":
        if events is None:
            raise RuleUnavailable(EVENT_UNAVAILABLE)
        return [str(e) for e in events.events(doc) or []]
    if name == "sentiment_label":
        sentiment = doc.analysis.get("sentiment")
        value = sentiment.get("label") if isinstance(sentiment, dict) else None
    else:
        value = getattr(doc, name, None)
    return [str(value)] if value not in (None, "") else []


def doc_groups(rule: Rule, doc: Document, fields: list[str] | None = None,
               events: EventProvider | None = None) -> list[Group]:
    """Every group a document falls in (one per combination of its values)."""
    groups: list[Group] = [()]
    for name in rule.group_by if fields is None else fields:
        values = field_values(doc, name, events)
        groups = [g + ((name, v),) for g in groups for v in values]
    return [tuple(sorted(g)) for g in groups]


def needs_scan(rule: Rule, fields: list[str] | None = None) -> bool:
    """True when the store cannot count this rule alone (several group fields, or one it does
    not count by); every ``[filters]`` key is a store filter."""
    fields = rule.group_by if fields is None else fields
    return bool(len(fields) > 1 or (fields and fields[0] not in COUNT_FIELDS))


def scan(store: Store, query: SearchQuery, rule: Rule, limit: int = SCAN_LIMIT
         ) -> Iterator[Document]:
    """Matching documents of ``query`` that pass the rule's filters, oldest first, at most
    ``limit`` read."""
    offset = 0
    while offset < limit:
        page = store.search(SearchQuery(**{**query.__dict__, "sort": "oldest",
                                           "limit": min(PAGE, limit - offset),
                                           "offset": offset}))
        for hit in page.hits:
            if filters_pass(rule, hit.document):
                yield hit.document
        if len(page.hits) < PAGE:
            return
        offset += len(page.hits)
    log.warning("rule %s: read only the first %d documents of its window", rule.id, limit)


def grouped_counts(store: Store, rule: Rule, since: datetime, until: datetime,
                   events: EventProvider | None = None, fields: list[str] | None = None
                   ) -> dict[Group, int]:
    """Matching documents per group in ``[since, until)``."""
    fields = rule.group_by if fields is None else fields
    query = base_query(rule, since, until)
    if not needs_scan(rule, fields):
        if not fields:
            n = store.count(query)
            return {(): n} if n else {}
        return {((fields[0], k),): v for k, v in store.count_by_field(query, fields[0]).items()}
    counts: dict[Group, int] = {}
    for doc in scan(store, query, rule):
        for g in doc_groups(rule, doc, fields, events):
            counts[g] = counts.get(g, 0) + 1
    return counts


def top_documents(store: Store, rule: Rule, since: datetime, until: datetime, group: Group,
                  events: EventProvider | None = None, sort: str = "risk") -> list[str]:
    """Ids of the rule's top documents (highest risk first) in one group and window."""
    query = base_query(rule, since, until)
    query.sort = sort
    rest = []
    for name, value in group:  # the store filters by these; the others are checked here
        if name in STORE_FILTERS:
            setattr(query, name + "s", [value])
        else:
            rest.append(name)
    exact = not rest
    query.limit = rule.top if exact else 200
    ids = []
    for hit in store.search(query).hits:
        doc = hit.document
        if exact or (filters_pass(rule, doc) and group in doc_groups(
                rule, doc, [n for n, _ in group], events)):
            ids.append(doc.id)
    return ids[:rule.top]


def group_label(group: dict[str, str] | Group) -> str:
    """``place=城关镇`` style label, for reasons and listings ('全部' for no group)."""
    items = group.items() if isinstance(group, dict) else group
    return "，".join(f"{k}={v}" for k, v in items) or "全部"


def resolved(rule: Rule, active: Iterable[Group], firing: set[Group],
             window: tuple[datetime, datetime], counts: dict[Group, int], why: str
             ) -> list[Firing]:
    """Resolved firings for the groups the caller says are firing that no longer are."""
    return [Firing(rule, dict(g), counts.get(g, 0), window, [], f"{group_label(g)}：{why}",
                   resolved=True)
            for g in sorted(set(active) - firing)]
