"""The incident tables in the state database and the objects read from them.

``incidents`` holds one row per incident (its level, category, the three times — occurred,
detected, confirmed — its jurisdiction and responsible unit, open or closed); ``incident_links``
the documents, alerts, events and searches it was opened from or linked to later;
``incident_events`` its timeline, every act in order.  They are defined on
:data:`monitor.state.metadata`; :class:`monitor.incidents.Incidents` creates them.  Times are
stored UTC and read back timezone-aware.  The checks on values every act shares, and the
routing seam, are here too.  See docs/incidents.md.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Column, DateTime, Index, Integer, String, Table, Text, select

from monitor.state import metadata

#: Levels a person may set.  The seeds name only 特别重大 and 重大 (the hour clocks apply to
#: them); 较大 and 一般 are the lower levels of the usual four-level scale, not seed terms.
LEVELS = ("特别重大", "重大", "较大", "一般")
#: The six response categories of seed 001 (八), by their short names.
CATEGORIES = ("建设性意见", "实际困难", "重大问题", "模糊认识", "错误看法", "虚假不实")
LINK_KINDS = ("document", "alert", "event", "search")
OPEN, CLOSED = "open", "closed"

incidents = Table(
    "incidents", metadata,
    Column("id", String(32), primary_key=True),            # INC-20261201-001 (office's day)
    Column("title", Text, nullable=False),
    Column("level", String(16)),                            # one of LEVELS, or unset
    Column("category", String(16)),                         # one of CATEGORIES, or unset
    Column("state", String(8), nullable=False),             # open | closed
    Column("jurisdiction", String(128)),                    # 属地 (free text until routing)
    Column("responsible_unit", String(128)),                # 责任单位 (free text until routing)
    Column("occurred_at", DateTime(timezone=True)),         # when it happened (may be unknown)
    Column("detected_at", DateTime(timezone=True), nullable=False),  # when the office learnt
    Column("confirmed_at", DateTime(timezone=True)),        # when it was verified
    Column("opened_by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("closed_by", String(128)),
    Column("summary", Text),
    Index("ix_incidents_state", "state", "created_at"),
)

incident_links = Table(
    "incident_links", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(32), nullable=False, index=True),
    Column("kind", String(16), nullable=False),             # document | alert | event | search
    Column("ref", Text, nullable=False),                    # document id or URL, alert id …
    Column("note", Text, nullable=False, default=""),
    Column("added_by", String(128), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

incident_events = Table(
    "incident_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(32), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),  # when it happened
    Column("recorded_at", DateTime(timezone=True), nullable=False),  # when it was written
    Column("actor", String(128), nullable=False),
    Column("kind", String(32), nullable=False),             # opened, level, category, linked …
    Column("text", Text, nullable=False, default=""),
    Column("data", JSON),
)

TABLES = [incidents, incident_links, incident_events]


def utc(value: datetime | None) -> datetime | None:
    """A stored time, timezone-aware (SQLite hands them back naive UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None \
        else value.astimezone(timezone.utc)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None (the form kept in audit rows and JSON output)."""
    return utc(value).isoformat() if value is not None else None


@dataclass
class Incident:
    """One incident as stored."""

    id: str
    title: str
    state: str
    level: str | None
    category: str | None
    jurisdiction: str | None
    responsible_unit: str | None
    occurred_at: datetime | None
    detected_at: datetime
    confirmed_at: datetime | None
    opened_by: str
    created_at: datetime
    closed_at: datetime | None = None
    closed_by: str | None = None
    summary: str | None = None

    @classmethod
    def from_row(cls, row) -> "Incident":
        """Build from an ``incidents`` row (times made aware)."""
        data = dict(row._mapping)
        for key in ("occurred_at", "detected_at", "confirmed_at", "created_at", "closed_at"):
            data[key] = utc(data[key])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times as ISO 8601 UTC)."""
        return {k: iso(v) if isinstance(v, datetime) else v for k, v in self.__dict__.items()}


@dataclass
class Link:
    """A document, alert, event or search linked to an incident."""

    incident_id: str
    kind: str
    ref: str
    note: str
    added_by: str
    at: datetime
    id: int = 0

    @classmethod
    def from_row(cls, row) -> "Link":
        """Build from an ``incident_links`` row."""
        return cls(incident_id=row.incident_id, kind=row.kind, ref=row.ref, note=row.note or "",
                   added_by=row.added_by, at=utc(row.at), id=row.id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**self.__dict__, "at": iso(self.at)}


@dataclass
class Event:
    """One entry of an incident's timeline."""

    incident_id: str
    at: datetime
    actor: str
    kind: str
    text: str
    data: dict = field(default_factory=dict)
    recorded_at: datetime | None = None
    id: int = 0

    @classmethod
    def from_row(cls, row) -> "Event":
        """Build from an ``incident_events`` row."""
        return cls(incident_id=row.incident_id, at=utc(row.at), actor=row.actor, kind=row.kind,
                   text=row.text or "", data=row.data or {}, recorded_at=utc(row.recorded_at),
                   id=row.id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**self.__dict__, "at": iso(self.at), "recorded_at": iso(self.recorded_at)}


class NotFound(LookupError):
    """An unknown incident or alert."""


class Refused(ValueError):
    """An act that is not allowed (bad value, closed incident, unknown person, bad time)."""


#: The routing seam (属地管理、分级负责、谁主管谁负责): given the incident being opened and its
#: links, the jurisdiction and the responsible unit, or None for what it cannot tell.  Routing
#: from org.toml ``[units]`` comes later in issue 8; until then nothing is routed, both are
#: free text given when opening (which always overrides the router) or by :meth:`assign`.
Router = Callable[[Incident, list[Link]], tuple[str | None, str | None]]


def no_routing(incident: Incident, links: list[Link]) -> tuple[str | None, str | None]:
    """The default router: routes nothing."""
    return None, None


def hint(value: str, known: Iterable[str]) -> str:
    """``; did you mean 'X'?`` for the nearest of ``known``, or an empty string."""
    close = difflib.get_close_matches(value, list(known), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    """``value`` if it is one of ``allowed``, else :class:`Refused` listing them."""
    value = (value or "").strip()
    if value not in allowed:
        raise Refused(f"unknown {what} {value!r}{hint(value, allowed)} "
                      f"(one of {', '.join(allowed)})")
    return value


def aware(value: datetime | None, what: str) -> datetime | None:
    """``value`` in UTC; :class:`Refused` when it has no time zone."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise Refused(f"the {what} time {value} has no time zone")
    return utc(value)


def person(by: str | None, people: list[str] | None) -> str:
    """The acting person's name, stripped; :class:`Refused` when none is given or, with
    ``people`` (org.toml's contacts), when it is not one of them."""
    name = (by or "").strip()
    if not name:
        raise Refused("who is acting? give --as NAME (or set $MONITOR_USER)")
    if people is not None and name not in people:
        raise Refused(f"unknown person {name!r}: not a contact in org.toml (add them "
                      f"under [contacts]){hint(name, people)}")
    return name


def required(text: str | None, message: str) -> str:
    """``text`` stripped; :class:`Refused` with ``message`` when it is empty."""
    if not (text or "").strip():
        raise Refused(message)
    return text.strip()


def next_id(conn, now: datetime, tz: str) -> str:
    """``INC-<the office's local day>-NNN``, the next number of that day (call it inside the
    transaction that inserts the incident, holding the write lock)."""
    day = now.astimezone(ZoneInfo(tz)).strftime("%Y%m%d")
    prefix = f"INC-{day}-"
    ids = conn.execute(select(incidents.c.id).where(
        incidents.c.id.like(prefix + "%"))).scalars().all()
    numbers = [int(i[len(prefix):]) for i in ids if i[len(prefix):].isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1:03d}"
