"""The durable outbox: notices and their deliveries in the state database, sent at least once.

:meth:`Outbox.enqueue` writes a notice and one delivery row per channel in one transaction — the
caller's, when it passes its connection, so that the rule state that produced the alert commits
or rolls back with it.  :meth:`Outbox.deliver_due` sends what is due, one worker thread per
channel instance (a channel that hangs holds only its own thread), paced per instance (a burst is
merged into one digest, never dropped), retried with exponential backoff and jitter (never sooner
than the receiver's ``retry_after``), dead-lettered after ``max_attempts`` or at once when a retry
cannot help.  A delivery is marked sent only after the channel said ok; before each attempt it is
marked ``sending`` with the attempt time, and a ``sending`` row older than the channel's timeout
(plus a grace) is taken as an attempt cut short by a crash and tried again.  Every payload
carries the notice id, so a receiver drops the repeats this allows.  All time comes from the
injected clock (or the ``now`` given).  See ``docs/alerts.md``.
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from alerts.aggregation import Hold, batch_digest, units
from alerts.channels import Channel, DeliveryResult, safe_send
from alerts.maintenance import MAINTENANCE, MAX_WINDOW, Maintenance
from alerts.message import AlertMessage, make_digest, severity_rank
from alerts.pacing import Pacer
from alerts.quiet import QuietHours  # noqa: F401  (re-exported: alerts.outbox.QuietHours)
from alerts.tables import (DEAD, PENDING, SENDING, SENT, alert_deliveries, alert_notices,
                           alerts, ensure_tables, group_key, utc)

TOP_SEVERITY = "critical"


def utcnow() -> datetime:
    """The wall clock, timezone-aware (the default clock)."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff: attempt n waits ``min(cap, base * factor**(n-1))`` times a jitter in [½, 1]."""

    max_attempts: int = 8
    base: float = 30.0
    factor: float = 2.0
    cap: float = 3600.0
    stale_grace: float = 5.0  # s past a channel's timeout before a "sending" row is retried

    def delay(self, attempts: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after ``attempts`` failed attempts (never below ``retry_after``)."""
        raw = min(self.cap, self.base * self.factor ** max(attempts - 1, 0))
        wait = raw * (0.5 + 0.5 * rng.random())
        return max(wait, retry_after or 0.0)


@dataclass
class Delivery:
    """One delivery row, as ``monitor alerts outbox`` shows it."""

    id: int
    notice_id: str
    alert_id: str
    channel: str
    state: str
    attempts: int
    next_at: datetime
    sending_at: datetime | None
    sent_at: datetime | None
    digest_id: str | None
    last_error: str | None
    last_code: str | None
    held: str | None
    severity: str
    kind: str
    batch: str | None = None  # sent together with the other deliveries of its batch


@dataclass
class Round:
    """What one :meth:`Outbox.deliver_due` call did (counts of deliveries)."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    held: int = 0
    busy: list[str] = field(default_factory=list)  # channels still sending from before
    threads: list[threading.Thread] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)

    def join(self, timeout: float | None = None) -> "Round":
        """Wait for this round's workers."""
        for thread in self.threads:
            thread.join(timeout)
        return self


class Outbox:
    """Durable, at-least-once delivery of alert notices to channel instances."""

    def __init__(self, engine: Engine, channels: Mapping[str, Channel], *,
                 clock: Callable[[], datetime] = utcnow, policy: RetryPolicy = RetryPolicy(),
                 quiet_hours: Mapping[str, QuietHours] | None = None,
                 rng: random.Random | None = None, maintenance: Maintenance | None = None):
        self.engine = engine
        self.channels = dict(channels)
        self.clock = clock
        self.policy = policy
        self.quiet = dict(quiet_hours or {})
        self.maintenance = maintenance or Maintenance()
        self.rng = rng or random.Random()
        self._pacers: dict[str, Pacer] = {}
        self._busy: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        #: called when a channel's worker has finished (the service's loop wakes to send what
        #: became due meanwhile, instead of waiting for its next round)
        self.on_worker_done: Callable[[], None] | None = None
        ensure_tables(engine)

    # -- writing --------------------------------------------------------------------------------

    def enqueue(self, message: AlertMessage, channels: Iterable[str], *,
                conn: Connection | None = None, now: datetime | None = None,
                hold: Hold | None = None) -> list[int]:
        """Write the notice and one pending delivery per channel; return the new delivery ids.

        With ``conn`` the rows join the caller's transaction (the caller commits).  Enqueuing
        the same notice to the same channel again adds nothing.  A channel this outbox does not
        know is written too, and dead-lettered at once with a message saying so (never lost).
        With ``hold`` the deliveries wait until ``hold.until`` and go with their batch.
        """
        now = now or self.clock()
        if conn is None:
            with self.engine.begin() as own:
                return self._enqueue(own, message, list(channels), now, hold)
        return self._enqueue(conn, message, list(channels), now, hold)

    def _enqueue(self, conn: Connection, message: AlertMessage, channels: list[str],
                 now: datetime, hold: Hold | None = None) -> list[int]:
        if conn.execute(select(alerts.c.id).where(alerts.c.id == message.alert_id)).first() \
                is None:  # used without the lifecycle layer: keep a minimal alert row
            conn.execute(insert(alerts).values(
                id=message.alert_id, rule=message.rule, group_key=group_key(message.group),
                state="firing", severity=message.severity, condition=True, notified=True,
                first_fired_at=message.fired_at, last_fired_at=message.fired_at, fire_count=1,
                channels=channels, message=message.to_dict(), updated_at=now))
        notice = message.notice_id
        if conn.execute(select(alert_notices.c.notice_id)
                        .where(alert_notices.c.notice_id == notice)).first() is None:
            conn.execute(insert(alert_notices).values(
                notice_id=notice, alert_id=message.alert_id, kind=message.kind,
                severity=message.severity, created_at=now, message=message.to_dict()))
        have = set(conn.execute(select(alert_deliveries.c.channel)
                                .where(alert_deliveries.c.notice_id == notice)).scalars())
        ids = []
        for name in dict.fromkeys(channels):
            if name in have:
                continue
            known = name in self.channels
            result = conn.execute(insert(alert_deliveries).values(
                notice_id=notice, channel=name, state=PENDING if known else DEAD, attempts=0,
                created_at=now, next_at=hold.until if hold and known else now,
                held=hold.reason if hold and known else None,
                batch=hold.batch if hold else None,
                last_error=None if known else f"unknown channel {name!r}: not in "
                                              f"channels.toml (or not usable)"))
            ids.append(result.inserted_primary_key[0])
        return ids

    def resend(self, delivery_id: int, now: datetime | None = None) -> bool:
        """Put a dead-lettered delivery back in the queue (attempts reset); False if none."""
        now = now or self.clock()
        with self.engine.begin() as conn:
            done = conn.execute(update(alert_deliveries).where(and_(
                alert_deliveries.c.id == delivery_id, alert_deliveries.c.state == DEAD))
                .values(state=PENDING, attempts=0, next_at=now, held=None, sending_at=None))
        return done.rowcount == 1

    # -- sending --------------------------------------------------------------------------------

    def deliver_due(self, now: datetime | None = None, *, wait: bool = True,
                    limit: int | None = None) -> Round:
        """Send every due delivery (at most ``limit`` per channel instance this round), one
        worker per channel instance; ``wait`` joins them.

        A channel whose worker from an earlier round is still sending is skipped (listed in
        ``Round.busy``), so a hanging channel never holds up another nor piles up threads.
        """
        fixed = now
        now = now or self.clock()
        report = Round()
        self._release_stale(now)
        d = alert_deliveries.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(d.id, d.channel, alert_notices.c.severity, alert_notices.c.message,
                       d.attempts, d.batch)
                .join(alert_notices, alert_notices.c.notice_id == d.notice_id)
                .where(and_(d.state == PENDING, or_(
                    d.next_at <= now,
                    # later than any wait we set: the clock jumped back
                    and_(or_(d.held.is_(None), d.held != MAINTENANCE),
                         d.next_at > now + self._longest_wait()),
                    d.next_at > now + MAX_WINDOW + timedelta(hours=1))))
                .order_by(d.id)).all()
        by_channel: dict[str, list] = {}
        for row in rows:
            by_channel.setdefault(row.channel, []).append(row)
        for name, items in by_channel.items():
            channel = self.channels.get(name)
            if channel is None:
                self._dead(items, f"unknown channel {name!r}: not in channels.toml", now)
                report.add(dead=len(items))
                continue
            items = self._past_holds(name, items, now, report)
            if limit is not None:  # sends: the rows of a batch go as one
                items = [r for unit in units(items)[:limit] for r in unit]
            if not items:
                continue
            with self._lock:
                running = self._busy.get(name)
                if running is not None and running.is_alive():
                    report.busy.append(name)
                    continue
                thread = threading.Thread(target=self._work, name=f"outbox-{name}",
                                          args=(channel, items, fixed, report), daemon=True)
                self._busy[name] = thread
                report.threads.append(thread)
            thread.start()
        if wait:
            report.join()
        return report

    def _longest_wait(self) -> timedelta:
        """Longer than any wait the outbox sets (backoff cap, a day of quiet hours)."""
        return timedelta(seconds=max(self.policy.cap, 86400.0) + 3600.0)

    def _past_holds(self, name: str, items: list, now: datetime, report: Round) -> list:
        """Hold below the top severity during the channel's maintenance, then quiet hours."""
        end, why = self.maintenance.channel_until(name, now), MAINTENANCE
        if end is None:
            quiet = self.quiet.get(name)
            end, why = (quiet.until(now) if quiet else None), "quiet"
        if end is None:
            return items
        hold = [r.id for r in items if severity_rank(r.severity) < severity_rank(TOP_SEVERITY)]
        if hold:
            with self.engine.begin() as conn:
                conn.execute(update(alert_deliveries).where(alert_deliveries.c.id.in_(hold))
                             .values(next_at=end, held=why))
            report.add(held=len(hold))
        held = set(hold)
        return [r for r in items if r.id not in held]

    def _release_stale(self, now: datetime) -> None:
        """``sending`` rows whose attempt outlived the channel's timeout: a crash cut them."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(alert_deliveries.c.id, alert_deliveries.c.channel,
                                       alert_deliveries.c.sending_at)
                                .where(alert_deliveries.c.state == SENDING)).all()
        stale = []
        for row in rows:
            channel = self.channels.get(row.channel)
            timeout = getattr(channel, "timeout", 10.0) + self.policy.stale_grace
            thread = self._busy.get(row.channel)
            if thread is not None and thread.is_alive():
                continue  # this process is still on it
            at = utc(row.sending_at)
            # older than the timeout allows, or "in the future": the clock jumped back
            if at is None or at <= now - timedelta(seconds=timeout) or \
                    at > now + timedelta(seconds=timeout):
                stale.append(row.id)
        if stale:
            with self.engine.begin() as conn:
                conn.execute(update(alert_deliveries).where(and_(
                    alert_deliveries.c.id.in_(stale), alert_deliveries.c.state == SENDING))
                    .values(state=PENDING, next_at=now, held="interrupted"))

    def _pacer(self, channel: Channel, now: datetime) -> Pacer:
        pacer = self._pacers.get(channel.name)
        if pacer is None:
            horizon = max((s for _, s in channel.limits), default=0.0)
            with self.engine.connect() as conn:
                times = conn.execute(
                    select(alert_deliveries.c.id, alert_deliveries.c.sending_at,
                           alert_deliveries.c.digest_id)
                    .where(and_(alert_deliveries.c.channel == channel.name,
                                alert_deliveries.c.sending_at >
                                now - timedelta(seconds=horizon)))).all()
            history = {(utc(t).timestamp(), d or i) for i, t, d in times}  # a digest: once
            pacer = Pacer(channel.limits, clock=lambda: self.clock().timestamp(),
                          history=[t for t, _ in history])
            self._pacers[channel.name] = pacer
        return pacer

    def _work(self, channel: Channel, items: list, fixed: datetime | None,
              report: Round) -> None:
        try:
            self._send_channel(channel, items, fixed, report)
        except Exception as exc:  # noqa: BLE001 - a bug here must not kill the service loop
            import logging
            logging.getLogger(__name__).error("outbox worker for %r stopped: %s",
                                              channel.name, exc)
        finally:
            if self.on_worker_done is not None:
                self.on_worker_done()

    def _send_channel(self, channel: Channel, items: list, fixed: datetime | None,
                      report: Round) -> None:
        clock = (lambda: fixed) if fixed is not None else self.clock
        now = clock()
        pacer = self._pacer(channel, now)
        plan = pacer.plan(units(items), now.timestamp())  # a batch takes one slot
        if plan.held:
            until = now + timedelta(seconds=plan.wait or 1.0)
            held = [r.id for unit in plan.held for r in unit]
            with self.engine.begin() as conn:
                conn.execute(update(alert_deliveries).where(alert_deliveries.c.id.in_(held))
                             .values(next_at=until, held="pacing"))
            report.add(held=len(held))
        merged = [r for unit in plan.digest for r in unit]
        batches = [(u, False) for u in plan.single] + ([(merged, True)] if merged else [])
        for batch, paced in batches:
            now = clock()
            messages = [AlertMessage.from_dict(r.message) for r in batch]
            if len(batch) == 1:
                message = messages[0]
            elif paced:  # the burst beyond the pace
                message = make_digest(messages, fired_at=now)
            else:  # one rule's aggregation period
                message = batch_digest(messages, batch[0].batch, now)
            if not self._claim(batch, now):
                continue
            pacer.record(now.timestamp())
            result = safe_send(channel, message)
            if not result.ok and result.retryable and result.retry_after and result.code:
                pacer.block(result.retry_after, now.timestamp())
            self._finish(batch, result, clock(), None if len(batch) == 1 else message.alert_id,
                         report)

    def _claim(self, batch: list, now: datetime) -> bool:
        """Mark the batch ``sending`` — all of it or none (another worker got there first)."""
        ids = [r.id for r in batch]
        with self.engine.connect() as conn, conn.begin() as tx:
            done = conn.execute(update(alert_deliveries).where(and_(
                alert_deliveries.c.id.in_(ids), alert_deliveries.c.state == PENDING))
                .values(state=SENDING, sending_at=now, held=None,
                        attempts=alert_deliveries.c.attempts + 1))
            if done.rowcount != len(ids):
                tx.rollback()
                return False
        return True

    def _finish(self, batch: list, result: DeliveryResult, now: datetime,
                digest: str | None, report: Round) -> None:
        ids = [r.id for r in batch]
        table = alert_deliveries
        with self.engine.begin() as conn:
            if result.ok:
                conn.execute(update(table).where(table.c.id.in_(ids)).values(
                    state=SENT, sent_at=now, digest_id=digest, last_error=None))
                report.add(sent=len(ids))
                return
            # one wait for the whole batch, so that its parts come due (and go) together again
            wait = self.policy.delay(max(r.attempts for r in batch) + 1, self.rng,
                                     result.retry_after)
            for row in batch:
                attempts = row.attempts + 1
                values: dict[str, Any] = {"last_error": result.detail[:2000],
                                          "last_code": result.code}
                if not result.retryable or attempts >= self.policy.max_attempts:
                    values.update(state=DEAD, held=None)
                    report.add(dead=1)
                else:
                    values.update(state=PENDING, next_at=now + timedelta(seconds=wait),
                                  held="backoff")
                    report.add(retried=1)
                conn.execute(update(table).where(table.c.id == row.id).values(**values))

    def _dead(self, items: list, detail: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(alert_deliveries).where(
                alert_deliveries.c.id.in_([r.id for r in items]))
                .values(state=DEAD, last_error=detail))

    # -- reading --------------------------------------------------------------------------------

    def deliveries(self, state: str | None = None, *, notice_id: str | None = None,
                   alert_id: str | None = None) -> list[Delivery]:
        """Delivery rows (oldest first), optionally of one state, notice or alert."""
        d, n = alert_deliveries.c, alert_notices.c
        query = (select(d.id, d.notice_id, n.alert_id, d.channel, d.state, d.attempts,
                        d.next_at, d.sending_at, d.sent_at, d.digest_id, d.last_error,
                        d.last_code, d.held, n.severity, n.kind, d.batch)
                 .join(alert_notices, n.notice_id == d.notice_id).order_by(d.id))
        if state:
            query = query.where(d.state == state)
        if notice_id:
            query = query.where(d.notice_id == notice_id)
        if alert_id:
            query = query.where(n.alert_id == alert_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Delivery(**{**r._asdict(), "next_at": utc(r.next_at),
                            "sending_at": utc(r.sending_at), "sent_at": utc(r.sent_at)})
                for r in rows]

    def counts(self) -> dict[str, int]:
        """How many deliveries are in each state."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(alert_deliveries.c.state, func.count())
                                .group_by(alert_deliveries.c.state)).all()
        return {state: count for state, count in rows}

    def next_due(self) -> datetime | None:
        """When the earliest pending delivery falls due (for the service's scheduler)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(func.min(alert_deliveries.c.next_at)).where(or_(
                alert_deliveries.c.state == PENDING))).scalar()
        return utc(value)

    def close(self, timeout: float | None = None) -> None:
        """Wait for running workers (each bounded by its channel's timeout)."""
        for thread in list(self._busy.values()):
            thread.join(timeout)
