"""The run report: what one crawl saw, kept, skipped and failed on.

The spider, its middlewares and the pipeline count into one :class:`RunReport`; the report
extension writes it as JSON when the spider closes, and ``monitor.crawl`` reads it back.

Keys of the written report (all present in every report)::

    source, spider, dry_run, started_at (spider opened), finished_at, seconds, finish_reason,
    pages            responses seen (any status)
    items            documents handed to the pipeline
    errors           download errors + HTTP errors + parse exceptions (an int)
    error_kinds      {"HTTP 404": 1, "download: ConnectionRefusedError": 3, "parse: KeyError": 1}
    skipped          pages or entries that gave no document
    skip_reasons     {"no title or text": 1, ...}
    warnings         {"unparsed date": 2, "content fallback": 5, "charset corrected": 3, ...}
    selector_misses  {selector name: pages where it found nothing}
    selector_pages   {selector name: pages it was tried on}
    unreachable      start URLs that failed
    messages         short human-readable notes (first 50)
    ingest           IngestStats.to_dict() for real crawls, None for dry runs
    fatal            a reason the crawl could not do its job (e.g. the store would not open), or ""
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MAX_MESSAGES = 50


@dataclass
class RunReport:
    """Counters for one crawl; ``to_dict`` gives the JSON written at close."""

    source: str = ""
    spider: str = ""
    dry_run: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    pages: int = 0
    items: int = 0
    error_kinds: Counter = field(default_factory=Counter)
    skip_reasons: Counter = field(default_factory=Counter)
    warnings: Counter = field(default_factory=Counter)
    selector_misses: Counter = field(default_factory=Counter)
    selector_pages: Counter = field(default_factory=Counter)
    unreachable: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    ingest: dict | None = None
    handed_off: int | None = None  # records given to the service's inbox (monitor/handoff.py)
    fatal: str = ""

    @property
    def errors(self) -> int:
        """Total errors of every kind."""
        return sum(self.error_kinds.values())

    @property
    def skipped(self) -> int:
        """Total skips of every reason."""
        return sum(self.skip_reasons.values())

    def note(self, message: str) -> None:
        """Keep a short human-readable note (the first MAX_MESSAGES only)."""
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message[:300])

    def error(self, kind: str, url: str = "", detail: str = "", count: int = 1) -> None:
        """Count an error (``count`` of them: entries lost together) and note where."""
        self.error_kinds[kind] += count
        self.note(f"{kind}: {url}" + (f" ({detail})" if detail else ""))

    def skip(self, reason: str, url: str = "") -> None:
        """Count a page or entry that gave no document."""
        self.skip_reasons[reason] += 1
        if url:
            self.note(f"skipped ({reason}): {url}")

    def warn(self, what: str) -> None:
        """Count a recoverable oddity (a document is still produced)."""
        self.warnings[what] += 1

    def selector(self, name: str, found: bool) -> None:
        """Record one use of a configured selector and whether it found anything."""
        self.selector_pages[name] += 1
        if not found:
            self.selector_misses[name] += 1

    def to_dict(self, finish_reason: str = "") -> dict[str, Any]:
        """JSON-ready form."""
        now = datetime.now(timezone.utc)
        return {
            "source": self.source, "spider": self.spider, "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(), "finished_at": now.isoformat(),
            "seconds": round((now - self.started_at).total_seconds(), 3),
            "finish_reason": finish_reason,
            "pages": self.pages, "items": self.items,
            "errors": self.errors, "error_kinds": dict(self.error_kinds),
            "skipped": self.skipped, "skip_reasons": dict(self.skip_reasons),
            "warnings": dict(self.warnings),
            "selector_misses": dict(self.selector_misses),
            "selector_pages": dict(self.selector_pages),
            "unreachable": list(self.unreachable), "messages": list(self.messages),
            "ingest": self.ingest, "handed_off": self.handed_off, "fatal": self.fatal,
        }

    def write(self, path: str | os.PathLike, finish_reason: str = "") -> None:
        """Write the report atomically (a reader never sees half a file)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(finish_reason), ensure_ascii=False, indent=1),
                       encoding="utf-8")
        os.replace(tmp, path)
