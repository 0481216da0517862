"""Deadline clocks that cannot be lost: every step of every incident's clocks is a row in the
state database, fired by the service's loop (issue 8; docs/escalation.md).

A **step** is one thing that must happen at one time: a warning before a deadline, the deadline
itself, a rolling-release reminder.  Steps are written when a clock starts (:meth:`Clocks.arm`,
idempotent by the step's key within its incident), and :meth:`Clocks.tick` fires every pending
step whose time has come, each in one transaction that

* marks it fired — only if it is still pending, so two services or a replay never fire it
  twice — with how late it is when it fires more than ``grace`` after its time (the service was
  down: it fires at once at start-up, marked late);
* records a **breach** when the step is a hard limit, at that moment, whether or not any
  message can be sent;
* queues the reminder for the step's roles through the alert outbox (``route(roles)`` gives the
  channels), whose delivery is durable and retried on its own.

A clock stopped by what it waited for (the release was published) cancels its pending steps.
Everything takes ``now`` from the caller's clock.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable

from sqlalchemy import (JSON, Boolean, Column, DateTime, Float, Integer, String, Table, Text,
                        UniqueConstraint, and_, insert, select, update)

from monitor.state import _utc, ensure_schema, metadata

log = logging.getLogger(__name__)

PENDING, FIRED, CANCELLED = "pending", "fired", "cancelled"
GRACE = 60.0  # s after its time that a step still counts as on time

clock_steps = Table(
    "clock_steps", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident", String(64), nullable=False, index=True),
    Column("key", String(120), nullable=False),      # e.g. "release-limit/warn-1", stable
    Column("clock", String(64), nullable=False),     # release-target, release-limit, press …
    Column("kind", String(16), nullable=False),      # warn | due | rolling
    Column("is_limit", Boolean, nullable=False, default=False),  # passing it is a breach
    Column("due_at", DateTime(timezone=True), nullable=False, index=True),
    Column("roles", JSON),                           # who is told (org.toml roles)
    Column("text", Text),                            # what the reminder says
    Column("state", String(16), nullable=False),
    Column("fired_at", DateTime(timezone=True)),
    Column("late_seconds", Float),                   # fired this late (None: on time)
    UniqueConstraint("incident", "key", name="uq_clock_steps_incident_key"),
)

clock_breaches = Table(
    "clock_breaches", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident", String(64), nullable=False, index=True),
    Column("clock", String(64), nullable=False),
    Column("step_key", String(120), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("late_seconds", Float),                   # recorded this long after the limit
    UniqueConstraint("incident", "step_key", name="uq_clock_breaches_step"),
)


@dataclass
class StepSpec:
    """One step to arm: its key (unique within the incident), clock, kind and time."""

    key: str
    clock: str
    kind: str
    at: datetime
    roles: list[str] = field(default_factory=list)
    limit: bool = False
    text: str = ""


@dataclass
class Fired:
    """What :meth:`Clocks.tick` did with one step."""

    incident: str
    key: str
    clock: str
    due_at: datetime
    late_seconds: float | None
    breach: bool
    channels: list[str]


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"times must be timezone-aware, got {at.isoformat()}")
    return at.astimezone(timezone.utc)


class Clocks:
    """The steps of every incident's clocks; ``outbox`` and ``route`` are the alert outbox
    and a function from role names to channel names (``monitor.org``)."""

    def __init__(self, engine, *, outbox=None, route: Callable[[list[str]], list[str]] | None = None,
                 grace: float = GRACE, timezone_name: str = "Asia/Shanghai"):
        self.engine = engine
        self.outbox = outbox
        self.route = route or (lambda roles: [])
        self.grace = grace
        self.timezone = timezone_name
        ensure_schema(engine, [clock_steps, clock_breaches])

    def arm(self, incident: str, steps: Iterable[StepSpec], *, conn=None) -> int:
        """Write the steps not written yet (by key); returns how many were new."""
        def go(c) -> int:
            have = {r.key for r in c.execute(select(clock_steps.c.key).where(
                clock_steps.c.incident == incident)).all()}
            new = 0
            for step in steps:
                if step.key in have:
                    continue
                c.execute(insert(clock_steps).values(
                    incident=incident, key=step.key, clock=step.clock, kind=step.kind,
                    is_limit=step.limit, due_at=_aware(step.at), roles=list(step.roles),
                    text=step.text, state=PENDING))
                have.add(step.key)
                new += 1
            return new
        if conn is not None:
            return go(conn)
        with self.engine.begin() as c:
            return go(c)

    def cancel(self, incident: str, clock: str | None = None, *, conn=None) -> int:
        """Cancel the pending steps of one clock of an incident (all its clocks when None)."""
        where = [clock_steps.c.incident == incident, clock_steps.c.state == PENDING]
        if clock is not None:
            where.append(clock_steps.c.clock == clock)
        stmt = update(clock_steps).where(and_(*where)).values(state=CANCELLED)
        if conn is not None:
            return conn.execute(stmt).rowcount
        with self.engine.begin() as c:
            return c.execute(stmt).rowcount

    def next_due(self) -> datetime | None:
        """The time of the earliest pending step."""
        with self.engine.connect() as c:
            value = c.execute(select(clock_steps.c.due_at).where(
                clock_steps.c.state == PENDING).order_by(clock_steps.c.due_at).limit(1)).scalar()
        return _utc(value)

    def tick(self, now: datetime) -> list[Fired]:
        """Fire every pending step due at ``now``, each once, in its own transaction."""
        now = _aware(now)
        with self.engine.connect() as c:
            due = c.execute(select(clock_steps).where(and_(
                clock_steps.c.state == PENDING, clock_steps.c.due_at <= now))
                .order_by(clock_steps.c.due_at, clock_steps.c.id)).all()
        fired = []
        for row in due:
            done = self._fire(row, now)
            if done is not None:
                fired.append(done)
        return fired

    def _fire(self, row, now: datetime) -> Fired | None:
        due_at = _utc(row.due_at)
        late = (now - due_at).total_seconds()
        late_seconds = late if late > self.grace else None
        channels = list(dict.fromkeys(self.route(list(row.roles or []))))
        with self.engine.begin() as c:
            claimed = c.execute(update(clock_steps).where(and_(
                clock_steps.c.id == row.id, clock_steps.c.state == PENDING)).values(
                state=FIRED, fired_at=now, late_seconds=late_seconds)).rowcount
            if not claimed:
                return None  # another service (or a replay) fired it
            if row.is_limit:
                c.execute(insert(clock_breaches).values(
                    incident=row.incident, clock=row.clock, step_key=row.key, due_at=due_at,
                    recorded_at=now, late_seconds=late_seconds))
            if self.outbox is not None and channels:
                self.outbox.enqueue(self._message(row, due_at, late_seconds), channels,
                                    conn=c, now=now)
        if late_seconds:
            log.warning("incident %s: %s fired %.0f s late (the service was not running)",
                        row.incident, row.key, late_seconds)
        return Fired(row.incident, row.key, row.clock, due_at, late_seconds, bool(row.is_limit),
                     channels)

    def _message(self, row, due_at: datetime, late_seconds: float | None):
        from alerts.message import AlertMessage

        late = f"（服务中断，迟发 {late_seconds / 60:.0f} 分钟）" if late_seconds else ""
        title = (f"【超时】{row.incident} {row.text or row.clock}" if row.is_limit
                 else f"【时限提醒】{row.incident} {row.text or row.clock}")
        return AlertMessage(
            alert_id=f"{row.incident}.{row.key}".replace("/", "."), kind="reminder",
            rule=row.clock, rule_name=row.clock, severity="critical" if row.is_limit else "warning",
            title=title, reason=(row.text or row.clock) + late, fired_at=due_at,
            group={"incident": row.incident}, timezone=self.timezone)

    def steps(self, incident: str) -> list[dict]:
        """Every step of an incident, in time order (for ``monitor incidents show``)."""
        with self.engine.connect() as c:
            rows = c.execute(select(clock_steps).where(clock_steps.c.incident == incident)
                             .order_by(clock_steps.c.due_at, clock_steps.c.id)).all()
        return [{k: _utc(v) if isinstance(v, datetime) else v for k, v in r._mapping.items()}
                for r in rows]

    def breaches(self, incident: str | None = None) -> list[dict]:
        """Recorded breaches, oldest first."""
        query = select(clock_breaches).order_by(clock_breaches.c.recorded_at)
        if incident is not None:
            query = query.where(clock_breaches.c.incident == incident)
        with self.engine.connect() as c:
            rows = c.execute(query).all()
        return [{k: _utc(v) if isinstance(v, datetime) else v for k, v in r._mapping.items()}
                for r in rows]

