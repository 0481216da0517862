"""Aggregation: a rule's firing notices held, then sent to each channel as one digest per period.

A rule with ``aggregation_minutes = N`` (``Firing.aggregate``, seconds) does not send its firing
notices one by one.  Periods are **aligned in the office's zone**: ``[k·N, (k+1)·N)`` minutes
counted from local midnight (the day's last period is cut at midnight when N does not divide a
day; N of a day or more gives one period per local day).  A notice raised in a period waits for
the period's end; every delivery of the rule's period carries the same **batch key**
(``alert_deliveries.batch``), so the outbox sends the deliveries of one batch to one channel
together, as one digest — after a restart too, as the key and the due time are in the database.
The top severity is never held.  See ``docs/alerts.md`` (Aggregation).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from alerts.message import AlertMessage, make_digest, severity_rank
from alerts.tables import PENDING, alert_deliveries, alert_notices, utc

AGGREGATION = "aggregation"
DAY = 86400.0


@dataclass(frozen=True)
class Hold:
    """New deliveries wait until ``until`` (why: ``reason``), and go with their ``batch``."""

    reason: str
    until: datetime
    batch: str | None = None


def period_end(now: datetime, seconds: float, zone: str = "Asia/Shanghai") -> datetime:
    """The end (UTC) of the aggregation period holding ``now``: periods of ``seconds`` aligned
    on the local midnight of ``zone``; the start is inclusive, so ``now`` on a boundary belongs
    to the period that starts there."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz).replace(tzinfo=None)  # wall clock
    midnight = datetime.combine(local.date(), time(0))
    step = min(max(float(seconds), 1.0), DAY)
    elapsed = (local - midnight).total_seconds()
    end = midnight + timedelta(seconds=(elapsed // step + 1) * step)
    end = min(end, midnight + timedelta(days=1))
    return end.replace(tzinfo=tz).astimezone(timezone.utc)


def batch_key(rule: str, seconds: float, end: datetime) -> str:
    """``aggregate/<seconds>/<end, epoch>/<rule>``: one per rule and period."""
    return f"aggregate/{seconds:g}/{int(end.timestamp())}/{rule}"[:240]


def hold_for(rule: str, seconds: float, severity: str, now: datetime, zone: str,
             top: str = "critical", *, cron: str | None = None) -> Hold | None:
    """The aggregation hold of a firing notice raised at ``now`` (None: send it now).  With
    ``cron`` the period ends at the next time of that crontab line in ``zone``."""
    if severity_rank(severity) >= severity_rank(top):
        return None
    if cron:
        from monitor.schedule import cron_trigger

        end = cron_trigger(cron, zone).get_next_fire_time(None, now + timedelta(microseconds=1))
        end = end.astimezone(timezone.utc)
        return Hold(AGGREGATION, end, f"aggregate/cron/{int(end.timestamp())}/{rule}"[:240])
    if not seconds or seconds <= 0:
        return None
    end = period_end(now, seconds, zone)
    return Hold(AGGREGATION, end, batch_key(rule, seconds, end))


def held_batches(conn: Connection, aid: str) -> dict[str, Hold]:
    """Channel → hold of this alert's firing deliveries that still wait in a batch (so that
    its resolved notice joins the same digest instead of overtaking it)."""
    d, n = alert_deliveries.c, alert_notices.c
    rows = conn.execute(select(d.channel, d.batch, d.next_at, d.held)
                        .join(alert_notices, n.notice_id == d.notice_id)
                        .where(and_(n.alert_id == aid, n.kind == "firing", d.state == PENDING,
                                    d.batch.is_not(None)))).all()
    return {r.channel: Hold(r.held or AGGREGATION, utc(r.next_at), r.batch) for r in rows}


def units(rows: Sequence) -> list[list]:
    """Due delivery rows as sends: the rows of one batch together (oldest first), each other
    row alone; most severe first, then oldest."""
    grouped: dict[str, list] = {}
    out: list[list] = []
    for row in sorted(rows, key=lambda r: r.id):
        batch = getattr(row, "batch", None)
        if batch is None:
            out.append([row])
        elif batch in grouped:
            grouped[batch].append(row)
        else:
            grouped[batch] = [row]
            out.append(grouped[batch])
    return sorted(out, key=lambda u: (-max(severity_rank(r.severity) for r in u), u[0].id))


def batch_digest(messages: list[AlertMessage], batch: str, now: datetime) -> AlertMessage:
    """The digest of one rule's period: ``make_digest`` titled for the rule, its window the
    period, raised at the period's end — so a retried digest keeps its notice id."""
    window = None
    try:
        _, seconds, end, _ = batch.split("/", 3)
        stop = datetime.fromtimestamp(int(end), timezone.utc)
        window = (stop - timedelta(seconds=float(seconds)), stop)
    except ValueError:
        pass
    digest = make_digest(messages, fired_at=window[1] if window else now)
    name = digest.rule_name or digest.rule
    return dataclasses.replace(
        digest, title=f"{name}：{len(digest.parts)} 条告警通知汇总",
        reason=f"规则「{name}」按时段汇总发送，本时段的通知合并为一条", window=window)
