"""The alert lifecycle and noise control: what a rule's firing becomes, and which notices go out.

A rule calls :meth:`Alerts.fire` when its condition holds for a group and :meth:`Alerts.clear`
when it no longer does, passing its own connection so that the rule state, the alert, its notice
and the deliveries commit together.  People call :meth:`Alerts.ack`, :meth:`Alerts.unack` and
:meth:`Alerts.resolve`; the service calls :meth:`Alerts.tick` on a schedule (escalation, notices
held by a silence or by realert, flapping that settled).  States: ``firing`` → ``acknowledged``
→ ``resolved``, and ``flapping``; every transition is a row in ``alert_transitions`` with who,
when and a comment.  Aggregation (a rule's firing notices in one digest per period) and the
maintenance of sources hold notices here too.  All time comes from the injected clock.  The exact rules are in
``docs/alerts.md``; the tests in ``tests/test_alert_lifecycle.py`` check each.
"""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Iterator

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from alerts.aggregation import hold_for, held_batches
from alerts.alert import Alert, Firing, alert_id  # noqa: F401  (re-exported)
from alerts.maintenance import Maintenance
from alerts.message import AlertMessage, severity_rank
from alerts.outbox import TOP_SEVERITY, Outbox
from alerts.tables import (ACKNOWLEDGED, FIRING, FLAPPING, OPEN_STATES, RESOLVED, alert_groups,
                           alert_silences, alert_transitions, alerts, group_key, utc)


class Alerts:
    """Alerts of every rule, kept in the state database, told through an :class:`Outbox`."""

    def __init__(self, outbox: Outbox, *, flap_changes: int = 6, flap_window: float = 3600.0,
                 timezone: str = "Asia/Shanghai", maintenance: Maintenance | None = None):
        self.timezone = timezone  # the office's zone: notices' times, aggregation periods
        # source windows hold alerts; the outbox's windows unless others are given
        self.maintenance = maintenance if maintenance is not None else outbox.maintenance
        self.outbox = outbox
        self.engine = outbox.engine
        self.clock = outbox.clock
        self.flap_changes = flap_changes
        self.flap_window = flap_window

    @contextmanager
    def _tx(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.engine.begin() as own:
                yield own

    # -- what rules call ------------------------------------------------------------------------

    def fire(self, firing: Firing, *, now: datetime | None = None,
             conn: Connection | None = None) -> Alert:
        """The condition holds for the group: update its open alert or open a new one."""
        now = now or self.clock()
        gk = group_key(firing.group)
        with self._tx(conn) as c:
            row = self._open(c, firing.rule, gk)
            if row is not None:
                values: dict[str, Any] = {"last_fired_at": now, "fire_count": row.fire_count + 1,
                                          "updated_at": now, "message": self._latest(row, firing)}
                seen = list(dict.fromkeys([*(row.sources or []), *firing.source_ids()]))
                if seen != (row.sources or []):
                    values["sources"] = seen
                if not row.condition:  # it had cleared while flapping: a state change
                    values["condition"] = True
                    self._change(c, firing.rule, gk, now)
                c.execute(update(alerts).where(alerts.c.id == row.id).values(**values))
                self._record(c, row.id, now, row.state, row.state, "fired", "rule", None)
                return self._get(c, row.id)
            first = firing.fired_at or now
            aid = alert_id(firing.rule, firing.group, first)
            if c.execute(select(alerts.c.id).where(alerts.c.id == aid)).first() is not None:
                return self._get(c, aid)  # a replay of the same episode
            message = AlertMessage(
                alert_id=aid, kind="firing", rule=firing.rule, rule_name=firing.rule_name,
                severity=firing.severity, title=firing.title, reason=firing.reason,
                fired_at=first, group=dict(firing.group), count=firing.count,
                window=firing.window, documents=list(firing.documents), link=firing.link,
                timezone=self.timezone)
            flapping = self._change(c, firing.rule, gk, now) >= self.flap_changes
            state = FLAPPING if flapping else FIRING
            escalation = ({"chain": firing.escalation, "after": firing.escalate_after,
                           "afters": list(firing.escalate_steps), "step": 0, "due_at": None}
                          if firing.escalation and firing.escalate_after else None)
            c.execute(insert(alerts).values(
                id=aid, rule=firing.rule, group_key=gk, state=state, severity=firing.severity,
                condition=True, notified=False, first_fired_at=first, last_fired_at=now,
                fire_count=1, channels=list(dict.fromkeys(firing.channels)),
                escalation=escalation, message=message.to_dict(), updated_at=now,
                realert_seconds=firing.realert, aggregate_seconds=firing.aggregate or None,
                aggregate_cron=firing.aggregate_cron or None,
                sources=firing.source_ids()))
            self._record(c, aid, now, None, state, "fired", "rule", None)
            self._maybe_notify(c, self._get(c, aid), now)
            return self._get(c, aid)

    def clear(self, rule: str, group: dict[str, Any] | None, *, now: datetime | None = None,
              conn: Connection | None = None) -> Alert | None:
        """The condition no longer holds: resolve the group's open alert (a resolved notice goes
        to everyone told about it), unless that makes it flap.  None if nothing was open."""
        now = now or self.clock()
        gk = group_key(group)
        with self._tx(conn) as c:
            row = self._open(c, rule, gk)
            if row is None or not row.condition:
                return None if row is None else self._get(c, row.id)
            count = self._change(c, rule, gk, now)
            if row.state == FLAPPING or count >= self.flap_changes:
                c.execute(update(alerts).where(alerts.c.id == row.id).values(
                    condition=False, state=FLAPPING, updated_at=now))
                self._record(c, row.id, now, row.state, FLAPPING, "cleared", "rule",
                             "held as flapping" if row.state != FLAPPING else None)
                if row.state != FLAPPING:
                    c.execute(update(alerts).where(alerts.c.id == row.id).values(
                        notified=False))
                    self._maybe_notify(c, self._get(c, row.id), now)
                return self._get(c, row.id)
            c.execute(update(alerts).where(alerts.c.id == row.id).values(condition=False))
            self._resolve(c, Alert.from_row(row), now, "rule", "触发条件已消失")
            return self._get(c, row.id)

    # -- what people call -----------------------------------------------------------------------

    def ack(self, aid: str, by: str, comment: str = "", *, now: datetime | None = None) -> Alert:
        """Acknowledge a firing or flapping alert (stops its escalation)."""
        now = now or self.clock()
        with self.engine.begin() as c:
            alert = self._must(c, aid, (FIRING, FLAPPING), "acknowledge")
            c.execute(update(alerts).where(alerts.c.id == aid).values(
                state=ACKNOWLEDGED, acked_by=by, acked_at=now, ack_comment=comment,
                updated_at=now))
            self._record(c, aid, now, alert.state, ACKNOWLEDGED, "ack", by, comment)
            return self._get(c, aid)

    def unack(self, aid: str, by: str, comment: str = "", *,
              now: datetime | None = None) -> Alert:
        """Back to firing; its escalation clock starts again from now."""
        now = now or self.clock()
        with self.engine.begin() as c:
            alert = self._must(c, aid, (ACKNOWLEDGED,), "unacknowledge")
            esc = dict(alert.escalation) if alert.escalation else None
            if esc:
                esc["due_at"] = (now + timedelta(seconds=_wait(esc, esc["step"]))).isoformat()
            c.execute(update(alerts).where(alerts.c.id == aid).values(
                state=FIRING, escalation=esc, updated_at=now))
            self._record(c, aid, now, ACKNOWLEDGED, FIRING, "unack", by, comment)
            return self._get(c, aid)

    def resolve(self, aid: str, by: str, comment: str = "", *,
                now: datetime | None = None) -> Alert:
        """Resolve by hand (a resolved notice goes to everyone told about it)."""
        now = now or self.clock()
        with self.engine.begin() as c:
            alert = self._must(c, aid, OPEN_STATES, "resolve")
            self._resolve(c, alert, now, by, comment)
            return self._get(c, aid)

    def silence(self, rule: str, group: dict[str, Any] | None = None, *, seconds: float,
                reason: str, by: str | None = None, now: datetime | None = None) -> int:
        """No new notices for the rule (one group, or all with ``group=None``) for ``seconds``."""
        if not reason or not reason.strip():
            raise ValueError("a silence needs a reason")
        if seconds <= 0:
            raise ValueError(f"a silence needs a positive duration, got {seconds:g} s")
        now = now or self.clock()
        with self.engine.begin() as c:
            result = c.execute(insert(alert_silences).values(
                rule=rule, group_key=None if group is None else group_key(group),
                starts_at=now, ends_at=now + timedelta(seconds=seconds), reason=reason.strip(),
                created_by=by, created_at=now))
            return result.inserted_primary_key[0]

    def unsilence(self, silence_id: int, *, now: datetime | None = None) -> bool:
        """End a silence now; False if there was none."""
        now = now or self.clock()
        with self.engine.begin() as c:
            done = c.execute(update(alert_silences).where(and_(
                alert_silences.c.id == silence_id, alert_silences.c.ends_at > now))
                .values(ends_at=now))
        return done.rowcount == 1

    def silences(self, now: datetime | None = None) -> list[dict]:
        """The silences in force at ``now``."""
        now = now or self.clock()
        with self.engine.connect() as c:
            rows = c.execute(select(alert_silences).where(and_(
                alert_silences.c.starts_at <= now, alert_silences.c.ends_at > now))
                .order_by(alert_silences.c.id)).all()
        return [{k: utc(v) if isinstance(v, datetime) else v for k, v in r._mapping.items()}
                for r in rows]

    # -- what the clock drives ------------------------------------------------------------------

    def tick(self, now: datetime | None = None, *, conn: Connection | None = None) -> list[str]:
        """Escalate, send held notices whose silence or realert ended, settle flapping alerts;
        returns what it did, one line each (for the service log)."""
        now = now or self.clock()
        done: list[str] = []
        with self._tx(conn) as c:
            for row in c.execute(select(alerts).where(alerts.c.state.in_(OPEN_STATES))).all():
                alert = Alert.from_row(row)
                if alert.state == FLAPPING and self._settled(c, alert, now):
                    if alert.condition:
                        c.execute(update(alerts).where(alerts.c.id == alert.id).values(
                            state=FIRING, updated_at=now))
                        self._record(c, alert.id, now, FLAPPING, FIRING, "settled", "clock",
                                     "stopped flapping, still firing")
                        done.append(f"{alert.id}: stopped flapping, firing")
                    else:
                        self._resolve(c, alert, now, "clock", "波动已平息，触发条件已消失")
                        done.append(f"{alert.id}: stopped flapping, resolved")
                    continue
                if not alert.notified and alert.state in (FIRING, FLAPPING):
                    if self._maybe_notify(c, alert, now):
                        done.append(f"{alert.id}: notice sent (held before)")
                    continue
                if alert.state == FIRING and self._escalate(c, alert, now):
                    done.append(f"{alert.id}: escalated")
        return done

    # -- reading --------------------------------------------------------------------------------

    def get(self, aid: str) -> Alert | None:
        """One alert, or None."""
        with self.engine.connect() as c:
            return self._get(c, aid)

    def list(self, state: str | None = None, rule: str | None = None) -> list[Alert]:
        """Alerts, newest first, optionally of one state or rule."""
        query = select(alerts).order_by(alerts.c.first_fired_at.desc())
        if state:
            query = query.where(alerts.c.state == state)
        if rule:
            query = query.where(alerts.c.rule == rule)
        with self.engine.connect() as c:
            return [Alert.from_row(r) for r in c.execute(query).all()]

    def transitions(self, aid: str) -> list[dict]:
        """Every recorded transition of an alert, oldest first."""
        with self.engine.connect() as c:
            rows = c.execute(select(alert_transitions).where(
                alert_transitions.c.alert_id == aid).order_by(alert_transitions.c.id)).all()
        return [{k: utc(v) if isinstance(v, datetime) else v for k, v in r._mapping.items()}
                for r in rows]

    # -- inside ---------------------------------------------------------------------------------

    def _get(self, c: Connection, aid: str) -> Alert | None:
        row = c.execute(select(alerts).where(alerts.c.id == aid)).first()
        return None if row is None else Alert.from_row(row)

    def _must(self, c: Connection, aid: str, states: tuple[str, ...], verb: str) -> Alert:
        alert = self._get(c, aid)
        if alert is None:
            raise LookupError(f"no alert {aid!r}")
        if alert.state not in states:
            raise ValueError(f"cannot {verb} alert {aid}: it is {alert.state}")
        return alert

    def _open(self, c: Connection, rule: str, gk: str):
        return c.execute(select(alerts).where(and_(
            alerts.c.rule == rule, alerts.c.group_key == gk, alerts.c.state.in_(OPEN_STATES)))
            .order_by(alerts.c.first_fired_at.desc())).first()

    @staticmethod
    def _latest(row, firing: Firing) -> dict:
        """The stored message with the latest counts and documents (id and first time kept),
        so that a notice sent later (after a silence, the resolved one) tells the latest."""
        base = AlertMessage.from_dict(row.message)
        return dataclasses.replace(
            base, title=firing.title, reason=firing.reason, count=firing.count,
            window=firing.window or base.window,
            documents=list(firing.documents) or base.documents,
            link=firing.link or base.link).to_dict()

    def _record(self, c, aid, now, old, new, action, actor, comment) -> None:
        c.execute(insert(alert_transitions).values(alert_id=aid, at=now, from_state=old,
                                                   to_state=new, action=action, actor=actor,
                                                   comment=comment))

    def _group(self, c: Connection, rule: str, gk: str):
        row = c.execute(select(alert_groups).where(and_(
            alert_groups.c.rule == rule, alert_groups.c.group_key == gk))).first()
        if row is None:
            c.execute(insert(alert_groups).values(rule=rule, group_key=gk, changes=[]))
            row = c.execute(select(alert_groups).where(and_(
                alert_groups.c.rule == rule, alert_groups.c.group_key == gk))).first()
        return row

    def _change(self, c: Connection, rule: str, gk: str, now: datetime) -> int:
        """Record a state change of the group; return how many fall in the flapping window."""
        row = self._group(c, rule, gk)
        start = now - timedelta(seconds=self.flap_window)
        kept = [t for t in (row.changes or []) if datetime.fromisoformat(t) > start]
        kept.append(now.isoformat())
        c.execute(update(alert_groups).where(and_(
            alert_groups.c.rule == rule, alert_groups.c.group_key == gk)).values(changes=kept))
        return len(kept)

    def _settled(self, c: Connection, alert: Alert, now: datetime) -> bool:
        row = self._group(c, alert.rule, alert.group_key)
        last = max((datetime.fromisoformat(t) for t in row.changes or []), default=None)
        return last is None or last <= now - timedelta(seconds=self.flap_window)

    def _silenced(self, c: Connection, alert: Alert, now: datetime) -> bool:
        return c.execute(select(alert_silences.c.id).where(and_(
            alert_silences.c.rule == alert.rule,
            or_(alert_silences.c.group_key.is_(None),
                alert_silences.c.group_key == alert.group_key),
            alert_silences.c.starts_at <= now, alert_silences.c.ends_at > now))).first() \
            is not None

    def _maybe_notify(self, c: Connection, alert: Alert, now: datetime) -> bool:
        """Send the firing (or flapping) notice unless a silence, its sources' maintenance or
        realert holds it; with aggregation it waits in the rule's period's batch."""
        top = severity_rank(alert.severity) >= severity_rank(TOP_SEVERITY)
        if self._silenced(c, alert, now) or (
                not top and self.maintenance.sources_until(alert.sources or [], now)):
            return False
        group = self._group(c, alert.rule, alert.group_key)
        last = utc(group.last_notice_at)
        flapping = alert.state == FLAPPING
        if (not flapping and alert.realert_seconds and last is not None
                and now < last + timedelta(seconds=alert.realert_seconds)):
            return False
        base = AlertMessage.from_dict(alert.message)
        if flapping:
            message = dataclasses.replace(
                base, fired_at=now, title=f"【反复波动】{base.title}",
                reason=f"{base.reason}（{self.flap_window / 60:g} 分钟内触发与恢复 "
                       f"{self.flap_changes} 次以上，合并为一条波动告警，平稳后再通知结果）")
        else:
            message = base  # fired_at = first fired: a replay keeps the notice id
        hold = hold_for(alert.rule, alert.aggregate_seconds or 0.0, alert.severity, now,
                        self.timezone, TOP_SEVERITY, cron=alert.aggregate_cron)
        self.outbox.enqueue(message, alert.channels, conn=c, now=now, hold=hold)
        esc = dict(alert.escalation) if alert.escalation else None
        if esc and esc.get("due_at") is None:  # from when the notice goes
            start = hold.until if hold else now
            esc["due_at"] = (start + timedelta(seconds=_wait(esc, 0))).isoformat()
        c.execute(update(alerts).where(alerts.c.id == alert.id).values(
            notified=True, escalation=esc, updated_at=now))
        if not flapping:
            c.execute(update(alert_groups).where(and_(
                alert_groups.c.rule == alert.rule, alert_groups.c.group_key == alert.group_key))
                .values(last_notice_at=now))
        self._record(c, alert.id, now, alert.state, alert.state, "notified", "outbox",
                     ", ".join(alert.channels))
        return True

    def _escalate(self, c: Connection, alert: Alert, now: datetime) -> bool:
        esc = alert.escalation
        if not esc or not alert.notified or esc.get("due_at") is None:
            return False
        if esc["step"] >= len(esc["chain"]) or now < datetime.fromisoformat(esc["due_at"]):
            return False
        step = esc["step"]
        channels = list(dict.fromkeys([*alert.channels, *esc["chain"][step]]))
        base = AlertMessage.from_dict(alert.message)
        message = dataclasses.replace(
            base, kind="escalation", fired_at=now,
            reason=f"{base.reason}（{_wait(esc, step) / 60:g} 分钟内无人确认，第 {step + 1} 级升级）")
        self.outbox.enqueue(message, channels, conn=c, now=now)
        more = step + 1 < len(esc["chain"])
        esc = {**esc, "step": step + 1,
               "due_at": (now + timedelta(seconds=_wait(esc, step + 1))).isoformat()
               if more else None}
        c.execute(update(alerts).where(alerts.c.id == alert.id).values(
            channels=channels, escalation=esc, updated_at=now))
        self._record(c, alert.id, now, FIRING, FIRING, "escalate", "clock",
                     f"step {step + 1}: {', '.join(esc['chain'][step])}")
        return True

    def _resolve(self, c: Connection, alert: Alert, now: datetime, by: str,
                 comment: str | None) -> None:
        c.execute(update(alerts).where(alerts.c.id == alert.id).values(
            state=RESOLVED, resolved_by=by, resolved_at=now, resolve_comment=comment,
            updated_at=now))
        self._record(c, alert.id, now, alert.state, RESOLVED, "resolve", by, comment)
        if alert.notified:
            base = AlertMessage.from_dict(alert.message)
            message = dataclasses.replace(base, kind="resolved", fired_at=now,
                                          reason=comment or base.reason)
            waiting = held_batches(c, alert.id)  # its firing notice still waits in a digest
            rest = [ch for ch in alert.channels if ch not in waiting]
            for channel, hold in waiting.items():  # ... so this one joins it there
                self.outbox.enqueue(message, [channel], conn=c, now=now, hold=hold)
            if rest:
                self.outbox.enqueue(message, rest, conn=c, now=now)


def _wait(esc: dict, step: int) -> float:
    """Seconds without an acknowledgement before escalation step ``step`` (0 = the first)."""
    afters = esc.get("afters") or []
    return float(afters[step]) if step < len(afters) else float(esc["after"])


def forget_groups(conn: Connection, rule: str) -> None:
    """Drop a rule's realert and flapping memory (when the rule file is deleted)."""
    conn.execute(delete(alert_groups).where(alert_groups.c.rule == rule))
