"""What a spider yields: a flat item that the pipeline turns into a :class:`monitor.documents.Document`.

A dataclass, so Scrapy's feed exports (``-O items.jsonl``) work on it too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.documents import Document, Reply


@dataclass
class CollectedItem:
    """One article, post or message as collected; ``to_document`` builds the Document."""

    source: str
    channel: str
    url: str
    title: str = ""
    text: str = ""
    kind: str = "article"
    author: str | None = None
    published_at: datetime | None = None
    place: str | None = None
    department: str | None = None
    platform_id: str | None = None
    own: bool = False
    status: str | None = None
    reply_text: str = ""
    reply_unit: str | None = None
    replied_at: datetime | None = None
    engagement: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_document(self) -> Document:
        """The monitor Document; its id comes from the source and platform id or URL."""
        reply = None
        if self.reply_text.strip():
            reply = Reply(self.reply_text, self.reply_unit or None, self.replied_at)
        return Document.new(
            self.source, self.channel, self.url, title=self.title or "", text=self.text or "",
            kind=self.kind, author=self.author or None, published_at=self.published_at,
            place=self.place or None, department=self.department or None,
            platform_id=self.platform_id or None, own=self.own, status=self.status,
            reply=reply, engagement=dict(self.engagement), extra=dict(self.extra))
