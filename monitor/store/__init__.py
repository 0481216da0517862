"""The document store: one protocol, several backends chosen by ``[store] backend``.

Backends are registered through the ``register_stores`` hook; the embedded SQLite + FTS5 store
is the default and needs nothing installed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable, Protocol, runtime_checkable

from monitor.documents import Document

#: ``put`` outcomes.
INSERTED, UPDATED, UNCHANGED = "inserted", "updated", "unchanged"

#: Sort orders every backend understands.
SORTS = ("relevance", "newest", "oldest", "risk", "negative")

#: Fields ``count_by_field`` accepts.
COUNT_FIELDS = ("source", "channel", "kind", "status", "department", "place", "sentiment_label")

#: Bucket sizes ``count_by_time`` accepts.
INTERVALS = ("hour", "day", "week", "month")


@dataclass
class StoreConfig:
    """Where and how to store documents (the ``[store]`` table of monitor.toml)."""

    backend: str = "embedded"
    path: Path | None = None  # embedded: the SQLite file
    options: dict = field(default_factory=dict)  # backend-specific settings


@dataclass
class SearchQuery:
    """What to look for.  Every filter is optional; ``text`` uses the backend's full-text index.

    ``text`` accepts words separated by spaces (all must match), ``"quoted phrases"``, ``OR``
    between words, and exclusions (``-word``, ``-"a phrase"``, ``NOT word``); see
    docs/store.md.  Time filters compare against ``published_at`` (falling back to
    ``crawled_at`` when a page gave no date).
    """

    text: str = ""
    sources: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)  # e.g. 城关镇 (the document's place)
    departments: list[str] = field(default_factory=list)  # e.g. 教育局 (the unit asked)
    since: datetime | None = None
    until: datetime | None = None
    min_sentiment: float | None = None
    max_sentiment: float | None = None
    min_risk: float | None = None
    replied: bool | None = None  # messages only: True = answered, False = awaiting a reply
    own: bool | None = None
    sort: str = "relevance"  # one of SORTS; relevance without text means newest
    limit: int = 20
    offset: int = 0
    timeout: float | None = None  # seconds; None = the store's search time limit


@dataclass
class Hit:
    """One search result: the document, its rank score and a highlighted snippet."""

    document: Document
    score: float | None = None
    snippet: str = ""


@dataclass
class SearchResult:
    """A page of hits and the total number of matching documents."""

    total: int
    hits: list[Hit]
    #: Notes for the reader, e.g. that the time limit was reached and the page is partial.
    notes: list[str] = field(default_factory=list)
    #: True when ``total`` is a lower bound (counting stopped at a cap or at the time limit).
    total_is_lower_bound: bool = False


@runtime_checkable
class Store(Protocol):
    """What every document-store backend provides."""

    def put(self, document: Document) -> str:
        """Insert or update one document; return INSERTED, UPDATED or UNCHANGED."""

    def put_many(self, documents: Iterable[Document]) -> dict[str, int]:
        """Upsert many documents in one transaction; return counts per outcome."""

    def get(self, doc_id: str) -> Document | None:
        """The document with this id, or None."""

    def search(self, query: SearchQuery) -> SearchResult:
        """Documents matching ``query``, sorted and paged as it says."""

    def count(self, query: SearchQuery | None = None) -> int:
        """Number of documents matching ``query`` (all when None)."""

    def count_by_time(self, query: SearchQuery | None, interval: str = "day",
                      tz: str = "Asia/Shanghai") -> list[tuple[str, int]]:
        """Matching documents per time bucket, oldest first, labelled in ``tz``."""

    def count_by_field(self, query: SearchQuery | None, field: str) -> dict[str, int]:
        """Matching documents per value of ``field`` (one of COUNT_FIELDS), largest first."""

    def close(self) -> None:
        """Release files and connections."""


def open_store(config: StoreConfig, factories: dict | None = None) -> Store:
    """Open the backend named in ``config`` using the registered factories."""
    from monitor.errors import ConfigError

    if factories is None:
        from monitor.store.embedded import EmbeddedStore

        factories = {"embedded": EmbeddedStore}
    try:
        factory = factories[config.backend]
    except KeyError:
        known = ", ".join(sorted(factories)) or "none"
        raise ConfigError(
            f"unknown store backend {config.backend!r}; installed backends: {known}",
            key="store.backend",
        ) from None
    return factory(config)
