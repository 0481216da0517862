"""The ingest pipeline: check → keep the stored version if this one has less → skip unchanged →
analyse (plugins) → rank risk → store (or spool, if the store stays locked).

Nothing is lost silently: a document that cannot be stored is counted as skipped with a reason,
a plugin that fails is counted against the plugin and the document is stored anyway.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Iterable

from monitor import textseg
from monitor.documents import CHANNELS, KINDS, Document, Gone
from monitor.errors import StoreBusy, StoreError
from monitor.spool import Spool
from monitor.store import INSERTED, UNCHANGED, UPDATED
from monitor.withdrawal import carry_over, error_page, less_than

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
    kept_aside: int = 0  # versions with less in them, not written over the stored document
    kept_aside_reasons: Counter = field(default_factory=Counter)
    withdrawn: int = 0  # stored documents found taken down (404/410 or an error page)
    restored: int = 0  # withdrawn documents that came back
    carried_over: Counter = field(default_factory=Counter)  # fields kept from an earlier crawl
    spooled: int = 0  # documents kept in the spool because the store stayed locked
    replayed: int = 0  # spooled documents (of any earlier run) written now
    write_retries: int = 0
    repaired: int = 0  # documents whose text held lone surrogates (replaced by U+FFFD)
    lock_hold_ms: list[float] = field(default_factory=list)

    @property
    def stored(self) -> int:
        """Documents written (new or changed)."""
        return self.inserted + self.updated

    def to_dict(self) -> dict:
        """JSON-ready form for crawl reports and ``--json`` output."""
        holds = sorted(self.lock_hold_ms)
        return {"received": self.received, "inserted": self.inserted, "updated": self.updated,
                "unchanged": self.unchanged, "skipped": self.skipped,
                "skip_reasons": dict(self.skip_reasons),
                "plugin_failures": dict(self.plugin_failures),
                "newest_published_at": (self.newest_published_at.isoformat()
                                        if self.newest_published_at else None),
                "kept_aside": self.kept_aside,
                "kept_aside_reasons": dict(self.kept_aside_reasons),
                "withdrawn": self.withdrawn, "restored": self.restored,
                "carried_over": dict(self.carried_over),
                "spooled": self.spooled, "replayed": self.replayed,
                "write_retries": self.write_retries, "repaired": self.repaired,
                "write_lock_ms": {
                    "transactions": len(holds),
                    "p95": round(holds[min(len(holds) - 1, int(len(holds) * 0.95))], 2)
                    if holds else None,
                    "max": round(holds[-1], 2) if holds else None}}


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

    def __init__(self, monitor: "Monitor", batch_size: int = 100,
                 on_stored: Callable[[list[tuple[Document, str]]], None] | None = None):
        self.monitor = monitor
        self.on_stored = on_stored  # told each stored batch (the service's per-document rules)
        self.batch_size = max(1, batch_size)
        self.stats = IngestStats()
        self._batch: list[Document] = []
        self._failures_before = Counter(monitor.plugins.failures)
        self._holds_seen = 0
        self._retries_seen = 0

    def add(self, doc: Document | Gone) -> None:
        """Queue one document (or a page found gone); the batch is written when it is full."""
        if isinstance(doc, Gone):
            self.gone(doc)
            return
        self.stats.received += 1
        if isinstance(doc, Document) and _repair_text(doc):
            self.stats.repaired += 1
        reason = check_document(doc)
        if reason:
            self._skip(doc, reason)
            return
        self._batch.append(doc)
        newest = self.stats.newest_published_at
        if doc.published_at and (newest is None or doc.published_at > newest):
            self.stats.newest_published_at = doc.published_at
        if len(self._batch) >= self.batch_size:
            self.flush()

    def _skip(self, doc: object, reason: str) -> None:
        self.stats.skipped += 1
        self.stats.skip_reasons[reason] += 1
        log.warning("skipped document %s: %s", getattr(doc, "url", doc), reason)

    def gone(self, marker: Gone) -> bool:
        """Mark the stored document of a page that answered 404/410 as withdrawn; True if one
        was stored (a page never collected is only counted by the spider as an HTTP error)."""
        store = self.monitor.store
        previous = store.get(marker.id)
        if previous is None and hasattr(store, "find_by_url"):
            previous = store.find_by_url(marker.source, marker.url)
        if previous is None:
            return False
        if previous.withdrawn_at is None:
            previous.withdrawn_at = marker.seen_at
            self._put([previous])
            self.stats.withdrawn += 1
            self.monitor.plugins.document_stored(previous, "withdrawn", self.monitor)
        return True

    def flush(self) -> None:
        """Analyse and store the queued documents."""
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        store, plugins = self.monitor.store, self.monitor.plugins
        previous = _get_many(store, [doc.id for doc in batch])
        statuses: list[tuple[Document, str]] = []
        withdrawn: list[Document] = []
        for doc in batch:
            prev = previous.get(doc.id)
            error = error_page(doc)
            if error:
                if prev is None:
                    self._skip(doc, error)
                elif prev.withdrawn_at is None:
                    prev.withdrawn_at = doc.crawled_at
                    withdrawn.append(prev)
                continue
            if prev is not None and self._keep_stored(doc, prev):
                continue
            if prev is not None and prev.content_hash == doc.content_hash:
                # a re-crawl of the same content: keep what was analysed before, and the
                # first-seen time of a date the page gave only as "3小时前"
                doc.analysis = prev.analysis
                doc.crawled_at = prev.crawled_at
                if doc.extra.get("date_relative") and prev.published_at:
                    doc.published_at = prev.published_at
                self._rank(doc)  # cheap, and engagement may have changed
                statuses.append((doc, UNCHANGED))
            else:
                doc.analysis = {**doc.analysis, **plugins.analyze(doc, self.monitor)}
                self._rank(doc)
                statuses.append((doc, INSERTED if prev is None else UPDATED))
            previous[doc.id] = doc  # a repeat later in the batch compares with this one
        counts = self._put([doc for doc, _ in statuses] + withdrawn)
        if counts is not None:
            self.stats.inserted += counts.get(INSERTED, 0)
            self.stats.updated += counts.get(UPDATED, 0) - len(withdrawn)
            self.stats.unchanged += counts.get(UNCHANGED, 0)
            self.stats.withdrawn += len(withdrawn)
            for doc, status in statuses:
                plugins.document_stored(doc, status, self.monitor)
            for doc in withdrawn:
                plugins.document_stored(doc, "withdrawn", self.monitor)
            if self.on_stored is not None and statuses:
                self.on_stored(statuses)
        self._sync_failures()

    def _keep_stored(self, doc: Document, prev: Document) -> bool:
        """True when ``doc`` has less than the stored ``prev``: keep it aside, count it."""
        for name in carry_over(doc, prev, self.monitor.config.tz):
            self.stats.carried_over[name] += 1
        reason = less_than(doc, prev)
        if reason is None:
            if prev.withdrawn_at is not None:
                self.stats.restored += 1  # it is back: doc.withdrawn_at is None
            return False
        self.stats.kept_aside += 1
        self.stats.kept_aside_reasons[reason] += 1
        log.warning("kept aside a version of %s with less in it (%s); the stored one stays",
                    doc.url, reason)
        keep = getattr(self.monitor.store, "keep_aside", None)
        if keep is not None:
            try:
                keep(doc, reason)
            except StoreError as exc:  # counted above; the stored document is what matters
                log.warning("could not keep the version of %s aside: %s", doc.url, exc)
        return True

    def _put(self, docs: list[Document]) -> dict[str, int] | None:
        """Write ``docs``; a store that stays locked gets them later, from the spool."""
        if not docs:
            return {}
        store = self.monitor.store
        try:
            return store.put_many(docs)
        except StoreBusy as exc:
            path = self._spool().write(docs, label=docs[0].source)
            self.stats.spooled += len(docs)
            log.warning("%s; %d documents kept in %s and written later", exc, len(docs), path)
            return None
        finally:
            self._sync_store_stats()

    def _spool(self) -> Spool:
        return Spool(self.monitor.config.data_dir / "spool")

    def replay_spool(self) -> int:
        """Write the batches earlier runs left in the spool; return how many documents."""
        if getattr(self.monitor.store, "path", None) is None:
            return 0  # an in-memory store has no other writer
        spool, written = self._spool(), 0
        for path in spool.pending():
            claimed = spool.claim(path)
            if claimed is None:
                continue
            docs, bad = spool.read(claimed)
            try:
                self.monitor.store.put_many(docs)
            except StoreBusy:
                spool.release(claimed)
                break
            if bad:
                self.stats.skip_reasons["unreadable spool line"] += bad
                self.stats.skipped += bad
            claimed.unlink(missing_ok=True)
            written += len(docs)
        self.stats.replayed += written
        self._sync_store_stats()
        return written

    def _sync_store_stats(self) -> None:
        store = self.monitor.store
        holds = getattr(store, "lock_hold_ms", None)
        if holds is not None:
            self.stats.lock_hold_ms.extend(holds[self._holds_seen:])
            self._holds_seen = len(holds)
        retries = getattr(store, "write_retries", 0)
        self.stats.write_retries += retries - self._retries_seen
        self._retries_seen = retries

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
        """Write what is queued (and what earlier runs left in the spool); return the stats."""
        self.flush()
        if not self.stats.spooled:
            self.replay_spool()
        return self.stats

    def __enter__(self) -> "Ingestor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_TEXT_FIELDS = ("title", "text", "author", "place", "department", "status", "platform_id", "url")


def _repair_text(doc: Document) -> bool:
    """Replace lone surrogates (from a broken ``\\ud800`` escape in a page or an API) in the
    document's text fields; True if any was found.  Left in, one would fail the whole batch."""
    repaired = False
    fields = [(doc, name) for name in _TEXT_FIELDS]
    if doc.reply is not None:
        fields += [(doc.reply, "text"), (doc.reply, "unit")]
    for owner, name in fields:
        value = getattr(owner, name)
        if isinstance(value, str):
            fixed = textseg.clean(value)
            if fixed is not value:
                setattr(owner, name, fixed)
                repaired = True
    return repaired


def _get_many(store, ids: list[str]) -> dict[str, Document]:
    many = getattr(store, "get_many", None)
    if many is not None:
        return many(ids)
    found = {}
    for doc_id in dict.fromkeys(ids):
        doc = store.get(doc_id)
        if doc is not None:
            found[doc_id] = doc
    return found


def ingest(documents: Iterable[Document], monitor: "Monitor", batch_size: int = 100
           ) -> IngestStats:
    """Run every document through the pipeline and return what happened."""
    with Ingestor(monitor, batch_size=batch_size) as ingestor:
        for doc in documents:
            ingestor.add(doc)
    return ingestor.stats
