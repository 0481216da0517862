"""The ingest pipeline: check → skip unchanged → analyse (plugins) → rank risk → store.

Nothing is lost silently: a document that cannot be stored is counted as skipped with a reason,
a plugin that fails is counted against the plugin and the document is stored anyway.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Iterable

from monitor.documents import CHANNELS, KINDS, Document
from monitor.store import INSERTED, UNCHANGED, UPDATED

if TYPE_CHECKING:  # pragma: no cover
    from monitor.app import Monitor

log = logging.getLogger(__name__)


@dataclass
class IngestStats:
    """What happened to the documents handed to the pipeline."""

    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    skip_reasons: Counter = field(default_factory=Counter)
    plugin_failures: Counter = field(default_factory=Counter)
    newest_published_at: datetime | None = None  # the source cursor: newest item seen

    @property
    def stored(self) -> int:
        """Documents written (new or changed)."""
        return self.inserted + self.updated

    def to_dict(self) -> dict:
        """JSON-ready form for crawl reports and ``--json`` output."""
        return {"received": self.received, "inserted": self.inserted, "updated": self.updated,
                "unchanged": self.unchanged, "skipped": self.skipped,
                "skip_reasons": dict(self.skip_reasons),
                "plugin_failures": dict(self.plugin_failures),
                "newest_published_at": (self.newest_published_at.isoformat()
                                        if self.newest_published_at else None)}


def check_document(doc: Document) -> str | None:
    """Why ``doc`` cannot be stored, or None when it can."""
    if not isinstance(doc, Document):
        return f"not a Document ({type(doc).__name__})"
    if not doc.id or not doc.source or not doc.url:
        return "missing id, source or url"
    if doc.channel not in CHANNELS:
        return f"unknown channel {doc.channel!r}"
    if doc.kind not in KINDS:
        return f"unknown kind {doc.kind!r}"
    if not (doc.title.strip() or doc.text.strip() or doc.replied):
        return "empty: no title, text or reply"
    if doc.published_at is not None and doc.published_at.tzinfo is None:
        return "published_at has no time zone"
    return None


class Ingestor:
    """Feeds documents through the pipeline in batches; use as a context manager."""

    def __init__(self, monitor: "Monitor", batch_size: int = 100):
        self.monitor = monitor
        self.batch_size = max(1, batch_size)
        self.stats = IngestStats()
        self._batch: list[Document] = []
        self._failures_before = Counter(monitor.plugins.failures)

    def add(self, doc: Document) -> None:
        """Queue one document; the batch is written when it is full."""
        self.stats.received += 1
        reason = check_document(doc)
        if reason:
            self.stats.skipped += 1
            self.stats.skip_reasons[reason] += 1
            log.warning("skipped document %s: %s", getattr(doc, "url", doc), reason)
            return
        self._batch.append(doc)
        newest = self.stats.newest_published_at
        if doc.published_at and (newest is None or doc.published_at > newest):
            self.stats.newest_published_at = doc.published_at
        if len(self._batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Analyse and store the queued documents."""
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        store, plugins = self.monitor.store, self.monitor.plugins
        statuses: list[tuple[Document, str]] = []
        for doc in batch:
            previous = store.get(doc.id)
            if previous is not None and previous.content_hash == doc.content_hash:
                # a re-crawl of the same content: keep what was analysed before, and the
                # first-seen time of a date the page gave only as "3小时前"
                doc.analysis = previous.analysis
                doc.crawled_at = previous.crawled_at
                if doc.extra.get("date_relative") and previous.published_at:
                    doc.published_at = previous.published_at
                self._rank(doc)  # cheap, and engagement may have changed
                statuses.append((doc, UNCHANGED))
            else:
                doc.analysis = {**doc.analysis, **plugins.analyze(doc, self.monitor)}
                self._rank(doc)
                statuses.append((doc, INSERTED if previous is None else UPDATED))
        counts = store.put_many(doc for doc, _ in statuses)
        self.stats.inserted += counts.get(INSERTED, 0)
        self.stats.updated += counts.get(UPDATED, 0)
        self.stats.unchanged += counts.get(UNCHANGED, 0)
        for doc, status in statuses:
            plugins.document_stored(doc, status, self.monitor)
        self._sync_failures()

    def _rank(self, doc: Document) -> None:
        assessment = self.monitor.plugins.rank_risk(doc, self.monitor)
        if assessment is not None:
            doc.risk, doc.risk_reasons = assessment.score, assessment.reasons

    def _sync_failures(self) -> None:
        now = self.monitor.plugins.failures
        self.stats.plugin_failures = Counter(
            {k: v - self._failures_before.get(k, 0) for k, v in now.items()
             if v - self._failures_before.get(k, 0) > 0})

    def close(self) -> IngestStats:
        """Write what is queued and return the statistics."""
        self.flush()
        return self.stats

    def __enter__(self) -> "Ingestor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def ingest(documents: Iterable[Document], monitor: "Monitor", batch_size: int = 100
           ) -> IngestStats:
    """Run every document through the pipeline and return what happened."""
    with Ingestor(monitor, batch_size=batch_size) as ingestor:
        for doc in documents:
            ingestor.add(doc)
    return ingestor.stats
