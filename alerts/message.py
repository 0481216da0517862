"""What a channel receives: one alert notice, self-contained, ready to render.

An :class:`AlertMessage` carries everything a channel needs to tell a person what happened —
the rule and why it fired, counts, the window, the top documents — and nothing a channel must
look up.  Its ``alert_id`` is stable: every payload carries it so that a receiver can drop a
repeat (a retried send, or a send resumed after a restart).  ``to_dict``/``from_dict`` round-trip
it through JSON, so the outbox can keep it in the state database and rebuild it after a restart.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Severities, lowest first, with the words a Chinese office uses for them.
SEVERITIES: dict[str, str] = {"info": "提示", "warning": "警告", "critical": "严重"}

#: Kinds of notice, with their Chinese names.
KINDS: dict[str, str] = {
    "firing": "告警",
    "resolved": "已恢复",
    "reminder": "提醒",
    "escalation": "升级",
    "digest": "汇总",
}


def severity_rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for critical (unknown values rank lowest)."""
    order = list(SEVERITIES)
    return order.index(severity) if severity in order else -1


def _aware(value: datetime | None, what: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{what} must be timezone-aware, got {value.isoformat()}")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_iso(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class AlertDoc:
    """One of the top documents shown in a notice; any field may be empty."""

    title: str
    source: str
    channel: str
    url: str
    published_at: datetime | None = None
    snippet: str = ""
    risk: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times as ISO 8601 with offset)."""
        return {"title": self.title, "source": self.source, "channel": self.channel,
                "url": self.url, "published_at": _iso(self.published_at),
                "snippet": self.snippet, "risk": self.risk}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AlertDoc":
        """Rebuild from :meth:`to_dict` output."""
        return cls(title=data.get("title") or "", source=data.get("source") or "",
                   channel=data.get("channel") or "", url=data.get("url") or "",
                   published_at=_from_iso(data.get("published_at")),
                   snippet=data.get("snippet") or "", risk=data.get("risk"))


@dataclass
class AlertMessage:
    """One notice for one alert: firing, resolved, a reminder, an escalation or a digest."""

    alert_id: str
    kind: str
    rule: str
    rule_name: str
    severity: str
    title: str
    reason: str
    fired_at: datetime
    group: dict[str, str] = field(default_factory=dict)
    count: int | None = None
    window: tuple[datetime, datetime] | None = None
    documents: list[AlertDoc] = field(default_factory=list)
    link: str | None = None
    timezone: str = "Asia/Shanghai"
    parts: list["AlertMessage"] = field(default_factory=list)

    def __post_init__(self):
        if not self.alert_id:
            raise ValueError("alert_id is required: receivers drop repeats by it")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, "
                             f"got {self.severity!r}")
        _aware(self.fired_at, "fired_at")
        if self.window is not None:
            start, end = self.window
            _aware(start, "window start")
            _aware(end, "window end")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None

    @property
    def notice_id(self) -> str:
        """This notice's id: the alert id, the kind and the time it was raised.

        A receiver drops a repeat by it: a retried or resumed send keeps it, while the same
        alert's resolved notice or a later reminder gets its own.
        """
        return f"{self.alert_id}/{self.kind}/{int(self.fired_at.timestamp())}"

    @property
    def severity_label(self) -> str:
        """提示 / 警告 / 严重."""
        return SEVERITIES[self.severity]

    @property
    def kind_label(self) -> str:
        """告警 / 已恢复 / 提醒 / 升级 / 汇总."""
        return KINDS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; :meth:`from_dict` gives back an equal message."""
        return {
            "alert_id": self.alert_id, "kind": self.kind, "rule": self.rule,
            "rule_name": self.rule_name, "severity": self.severity, "title": self.title,
            "reason": self.reason, "fired_at": _iso(self.fired_at), "group": dict(self.group),
            "count": self.count,
            "window": [_iso(self.window[0]), _iso(self.window[1])] if self.window else None,
            "documents": [d.to_dict() for d in self.documents], "link": self.link,
            "timezone": self.timezone, "parts": [p.to_dict() for p in self.parts],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AlertMessage":
        """Rebuild a message from :meth:`to_dict` output (for example, read from the outbox)."""
        window = data.get("window")
        return cls(
            alert_id=data["alert_id"], kind=data["kind"], rule=data.get("rule") or "",
            rule_name=data.get("rule_name") or "", severity=data["severity"],
            title=data.get("title") or "", reason=data.get("reason") or "",
            fired_at=_from_iso(data["fired_at"]), group=dict(data.get("group") or {}),
            count=data.get("count"),
            window=(_from_iso(window[0]), _from_iso(window[1])) if window else None,
            documents=[AlertDoc.from_dict(d) for d in data.get("documents") or []],
            link=data.get("link"), timezone=data.get("timezone") or "Asia/Shanghai",
            parts=[cls.from_dict(p) for p in data.get("parts") or []],
        )


def digest_id(messages: list[AlertMessage]) -> str:
    """A stable id for a digest of these messages: the same parts give the same id."""
    ids = sorted({m.alert_id for m in messages})
    return "digest-" + hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()[:20]


def flatten(messages: list[AlertMessage]) -> list[AlertMessage]:
    """The messages with every digest replaced by its parts (a digest never nests)."""
    out: list[AlertMessage] = []
    for message in messages:
        out.extend(flatten(message.parts) if message.kind == "digest" else [message])
    return out


def make_digest(messages: list[AlertMessage], *, fired_at: datetime | None = None,
                link: str | None = None, max_documents: int = 5) -> AlertMessage:
    """Merge several notices into one digest notice (kind ``"digest"``).

    The digest takes the highest severity of its parts, the latest firing time (unless
    ``fired_at`` is given), the top documents across the parts (by risk, one per URL) and a
    stable id derived from the parts' ids, so that a digest that is re-sent keeps its id.
    """
    parts = flatten(messages)
    if not parts:
        raise ValueError("a digest needs at least one message")
    severity = max((p.severity for p in parts), key=severity_rank)
    seen: set[str] = set()
    docs: list[AlertDoc] = []
    for doc in sorted((d for p in parts for d in p.documents),
                      key=lambda d: -(d.risk if d.risk is not None else -1.0)):
        key = doc.url or doc.title
        if key in seen:
            continue
        seen.add(key)
        docs.append(doc)
    rules = list(dict.fromkeys(p.rule_name or p.rule for p in parts))
    shown = "、".join(rules[:3]) + ("等" if len(rules) > 3 else "")
    return AlertMessage(
        alert_id=digest_id(parts), kind="digest", rule=",".join(dict.fromkeys(
            p.rule for p in parts)), rule_name=shown, severity=severity,
        title=f"{len(parts)} 条告警通知合并发送", reason=f"短时间内通知过多，合并为一条：{shown}",
        fired_at=fired_at or max(p.fired_at for p in parts), count=len(parts),
        documents=docs[:max_documents], link=link, timezone=parts[0].timezone, parts=parts)
