"""The document model: what every channel's item becomes once collected.

A document is a news article or portal page, a social post, or a message (领导信箱, 留言板 /
网络问政, 12345 work order) together with its official reply.  Ids are deterministic, so a
re-crawl of the same page updates the stored document instead of duplicating it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Channels a document can come from, with the Chinese names people use for them.
CHANNELS: dict[str, str] = {
    "news": "新闻媒体",
    "portal": "政府门户网站",
    "social": "社交媒体 / 政务新媒体",
    "mailbox": "领导信箱",
    "board": "留言板 / 网络问政",
    "hotline": "12345 热线",
}

#: Kinds of document; messages carry a question and, when answered, an official reply.
KINDS = ("article", "post", "message")

#: Channels whose documents are messages that expect an official reply.
MESSAGE_CHANNELS = frozenset({"mailbox", "board", "hotline"})

#: Status values of a message.
STATUS_REPLIED = "replied"
STATUS_PENDING = "pending"


def canonical_url(url: str) -> str:
    """Return a stable form of ``url``: lower-case scheme and host, sorted query, no fragment."""
    parts = urlsplit(url.strip())
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    netloc = parts.netloc.lower()
    if (parts.scheme == "http" and netloc.endswith(":80")) or (
        parts.scheme == "https" and netloc.endswith(":443")
    ):
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", query, ""))


def make_doc_id(source: str, url: str | None = None, platform_id: str | None = None) -> str:
    """Deterministic document id from the source and the platform id (preferred) or the URL."""
    if platform_id:
        key = f"{source}\x00id\x00{platform_id}"
    elif url:
        key = f"{source}\x00url\x00{canonical_url(url)}"
    else:
        raise ValueError("a document needs a url or a platform id to get an id")
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value else None


def _parse_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class Reply:
    """The official reply to a message."""

    text: str
    unit: str | None = None
    replied_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"text": self.text, "unit": self.unit, "replied_at": _ts(self.replied_at)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Reply":
        """Inverse of :meth:`to_dict`."""
        return cls(data.get("text") or "", data.get("unit"), _parse_ts(data.get("replied_at")))


@dataclass
class Document:
    """One collected item.  Timestamps are timezone-aware and stored in UTC."""

    id: str
    source: str
    channel: str
    url: str
    title: str = ""
    text: str = ""
    kind: str = "article"
    author: str | None = None
    published_at: datetime | None = None
    crawled_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    place: str | None = None
    department: str | None = None  # for messages: the unit asked (受理单位)
    engagement: dict[str, int] = field(default_factory=dict)  # likes, comments, reposts, views
    reply: Reply | None = None
    status: str | None = None  # messages: "replied" / "pending" (or the site's own word)
    platform_id: str | None = None  # e.g. a letter number or a post id
    own: bool = False  # collected from one of the office's own channels
    analysis: dict[str, Any] = field(default_factory=dict)
    risk: float | None = None
    risk_reasons: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    #: When a later crawl first found the page gone (404/410 or an error page); None = online.
    withdrawn_at: datetime | None = None

    @classmethod
    def new(cls, source: str, channel: str, url: str, **fields: Any) -> "Document":
        """Build a document whose id is derived from ``source`` and ``platform_id`` or ``url``."""
        doc_id = make_doc_id(source, url=url, platform_id=fields.get("platform_id"))
        return cls(id=doc_id, source=source, channel=channel, url=url, **fields)

    @property
    def is_message(self) -> bool:
        """True for 信箱 / 留言 / 12345 items, which expect an official reply."""
        return self.kind == "message"

    @property
    def replied(self) -> bool:
        """True when an official reply has been collected."""
        return self.reply is not None and bool(self.reply.text.strip())

    @property
    def content_hash(self) -> str:
        """Hash of what people wrote (title, text, reply) to tell a changed page from a re-crawl."""
        parts = [self.title, self.text, self.reply.text if self.reply else "", self.status or ""]
        return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()

    @property
    def sentiment(self) -> float | None:
        """Sentiment score in [0, 1] (0 = negative) from the analysis, if any plugin set one."""
        value = self.analysis.get("sentiment")
        if isinstance(value, dict):
            value = value.get("score")
        return float(value) if isinstance(value, (int, float)) else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (timestamps as ISO-8601 UTC strings)."""
        data = dataclasses.asdict(self)
        data["published_at"] = _ts(self.published_at)
        data["crawled_at"] = _ts(self.crawled_at)
        data["reply"] = self.reply.to_dict() if self.reply else None
        data["withdrawn_at"] = _ts(self.withdrawn_at)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Document":
        """Inverse of :meth:`to_dict`; unknown keys are kept in ``extra``."""
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        known["published_at"] = _parse_ts(known.get("published_at"))
        known["crawled_at"] = _parse_ts(known.get("crawled_at")) or datetime.now(timezone.utc)
        known["withdrawn_at"] = _parse_ts(known.get("withdrawn_at"))
        if known.get("reply"):
            known["reply"] = Reply.from_dict(known["reply"])
        doc = cls(**known)
        doc.extra.update(extra)
        return doc


def read_jsonl(path: "str | os.PathLike[str]", parse: Callable[[dict], Any] | None = None
               ) -> tuple[list[Any], int]:
    """The documents of a JSON-lines file (one ``Document.to_dict()`` a line) and the number of
    lines that could not be read; a missing file has none.  ``parse`` reads one line's object
    (default ``Document.from_dict``)."""
    parse = parse or Document.from_dict
    docs: list[Any] = []
    bad = 0
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return docs, bad
    with fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                docs.append(parse(json.loads(line)))
            except (ValueError, TypeError, KeyError, AttributeError):
                bad += 1
    return docs, bad


@dataclass
class Gone:
    """A page collected before that a later crawl found taken down (HTTP 404 or 410).

    Spiders yield it instead of a Document; the pipeline marks the stored document withdrawn
    (``Document.withdrawn_at``) and never deletes it: a deleted post is news.
    """

    source: str
    url: str
    status: int | None = None
    platform_id: str | None = None
    seen_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def id(self) -> str:
        """The id the page's document would have."""
        return make_doc_id(self.source, url=self.url, platform_id=self.platform_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, marked ``"gone": true`` (a crawl hands these to the service)."""
        return {"gone": True, "source": self.source, "url": self.url, "status": self.status,
                "platform_id": self.platform_id, "seen_at": self.seen_at.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Gone":
        """Inverse of :meth:`to_dict`."""
        return cls(source=data["source"], url=data["url"], status=data.get("status"),
                   platform_id=data.get("platform_id"),
                   seen_at=datetime.fromisoformat(data["seen_at"]))


def parse_record(data: dict[str, Any]) -> "Document | Gone":
    """One handed-off line: a Document, or a Gone marker (``"gone": true``)."""
    return Gone.from_dict(data) if data.get("gone") is True else Document.from_dict(data)

