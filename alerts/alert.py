"""What an alert is: its stable id, what a rule hands over (:class:`Firing`) and the stored row
(:class:`Alert`).  Re-exported by :mod:`alerts.lifecycle`, where they are used."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts.message import AlertDoc
from alerts.tables import group_key, utc


def alert_id(rule: str, group: dict[str, Any] | None, first_fired: datetime) -> str:
    """``<rule>-<hash of the group>-<first fired, UTC>``: the same episode gives the same id.

    All three parts are known to the rule state that fires, so an evaluation replayed after a
    crash (its transaction rolled back) produces the id again and receivers see one alert.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", rule)[:80] or "rule"
    digest = hashlib.sha256(group_key(group).encode("utf-8")).hexdigest()[:10]
    return f"{safe}-{digest}-{utc(first_fired).strftime('%Y%m%dT%H%M%SZ')}"


@dataclass
class Firing:
    """What a rule hands over when its condition holds for one group."""

    rule: str
    group: dict[str, str]
    severity: str
    title: str
    reason: str
    channels: list[str]
    rule_name: str = ""
    fired_at: datetime | None = None          # event time of the condition; default: now
    count: int | None = None
    window: tuple[datetime, datetime] | None = None
    documents: list[AlertDoc] = field(default_factory=list)
    link: str | None = None
    realert: float = 0.0                      # s: no new firing notice for the group within
    escalation: list[list[str]] = field(default_factory=list)  # channels per later step
    escalate_after: float | None = None       # s without an ack before the next step
    escalate_steps: list[float] = field(default_factory=list)  # s before each step, if they differ
    aggregate: float = 0.0                    # s: firing notices go in one digest per period
    aggregate_cron: str = ""                  # or: one digest at each of these times
    sources: list[str] = field(default_factory=list)  # where its documents / group come from

    def source_ids(self) -> list[str]:
        """``sources``, else the group's source, else the sources of its documents."""
        if self.sources:
            return list(dict.fromkeys(self.sources))
        if self.group.get("source"):
            return [self.group["source"]]
        return list(dict.fromkeys(d.source for d in self.documents if d.source))


@dataclass
class Alert:
    """One alert as stored."""

    id: str
    rule: str
    group_key: str
    state: str
    severity: str
    condition: bool
    notified: bool
    first_fired_at: datetime
    last_fired_at: datetime
    fire_count: int
    acked_by: str | None
    acked_at: datetime | None
    ack_comment: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolve_comment: str | None
    channels: list[str]
    escalation: dict | None
    message: dict
    updated_at: datetime
    realert_seconds: float | None = None
    aggregate_seconds: float | None = None
    aggregate_cron: str | None = None
    sources: list[str] | None = None

    @classmethod
    def from_row(cls, row) -> "Alert":
        data = dict(row._mapping)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = utc(value)
        return cls(**data)
