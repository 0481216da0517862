"""When things are due: crawls by their source's ``interval_minutes`` or ``cron`` (read in the
office's time zone by APScheduler's ``CronTrigger``), window rules every
``[run] rule_interval_seconds``.

Due times are computed from what the state database records — a source's last crawl start, a
rule's last evaluation — never from memory, so a restart knows at once what fell due while the
service was down.  Missed runs are coalesced: a source whose crawl was due several times during
an outage is crawled once, at start-up.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select

from monitor.state import _utc, crawl_runs


@lru_cache(maxsize=256)
def cron_trigger(expr: str, zone: str) -> CronTrigger:
    """The trigger of a five-field crontab line in ``zone`` (checked when the source loads)."""
    return CronTrigger.from_crontab(expr, timezone=ZoneInfo(zone))


def next_crawl(source, last_started: datetime | None, now: datetime, zone: str) -> datetime:
    """When ``source`` is next due: never crawled → now (interval) or its next cron time;
    otherwise the first time after its last start (in the past = due now, once)."""
    if source.cron:
        trigger = cron_trigger(source.cron, zone)
        after = (last_started or now) + timedelta(microseconds=1)
        due = trigger.get_next_fire_time(None, after)
        return due.astimezone(now.tzinfo) if due else now + timedelta(days=3650)
    if last_started is None:
        return now
    return last_started + timedelta(minutes=source.interval_minutes)


def next_rule(evaluated_at: datetime | None, now: datetime, interval: float) -> datetime:
    """When a window rule is next due (never evaluated → now)."""
    if evaluated_at is None:
        return now
    return evaluated_at + timedelta(seconds=interval)


def last_crawl_starts(engine) -> dict[str, datetime]:
    """The last start of every source's crawl, from ``crawl_runs``."""
    with engine.connect() as c:
        rows = c.execute(select(crawl_runs.c.source, func.max(crawl_runs.c.started_at))
                         .group_by(crawl_runs.c.source)).all()
    return {source: _utc(started) for source, started in rows}
