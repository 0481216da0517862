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
from sqlalchemy import and_, func, not_, select

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
    """The last start of every source's crawl, from ``crawl_runs`` — leaving out crawls that
    were interrupted (a service stopped or killed mid-crawl): their source is due again."""
    interrupted = and_(crawl_runs.c.status == "failed",
                       crawl_runs.c.message.like("interrupted%"))
    with engine.connect() as c:
        rows = c.execute(select(crawl_runs.c.source, func.max(crawl_runs.c.started_at))
                         .where(not_(interrupted)).group_by(crawl_runs.c.source)).all()
    return {source: _utc(started) for source, started in rows}


class Schedule:
    """The due times of one service: ``crawls`` (source id → next crawl) and ``rules`` (rule
    id → next evaluation), rebuilt from the state database at start-up."""

    def __init__(self, zone: str, rule_interval: float):
        self.zone = zone
        self.every = timedelta(seconds=rule_interval)
        self.crawls: dict[str, datetime] = {}
        self.rules: dict[str, datetime] = {}
        self._last: datetime | None = None

    def rebuild(self, sources, starts: dict[str, datetime], rules, evaluated_at, now) -> None:
        """Due times from the last crawl starts and the rules' last evaluations."""
        self.crawls = {s.id: next_crawl(s, starts.get(s.id), now, self.zone) for s in sources}
        self.set_rules(rules, evaluated_at, now)

    def set_rules(self, rules, evaluated_at, now) -> None:
        """The window rules (after a reload): known ones keep their due time."""
        self.rules = {r.id: self.rules.get(r.id) or next_rule(
            evaluated_at(r.id), now, self.every.total_seconds()) for r in rules}

    def take_crawls(self, sources, now: datetime, running: set[str]) -> list:
        """The sources due now and not running; their next due time moves on."""
        due = [s for s in sources if s.id not in running and self.crawls.get(s.id, now) <= now]
        for source in due:
            self.crawls[source.id] = next_crawl(source, now, now, self.zone)
        return due

    def take_rules(self, rules, now: datetime) -> list:
        """The window rules due now; their next evaluation moves on."""
        due = [r for r in rules if self.rules.get(r.id, now) <= now]
        for rule in due:
            self.rules[rule.id] = now + self.every
        return due

    def soonest(self) -> datetime | None:
        """The next due time of anything."""
        return min([*self.crawls.values(), *self.rules.values()], default=None)

    def clock_jumped_back(self, now: datetime, sources) -> bool:
        """True (and every due time pulled back to at most one period from now) when the
        clock went back more than 5 s since the last call."""
        last, self._last = self._last, now
        if last is None or now >= last - timedelta(seconds=5):
            return False
        for rule_id, due in self.rules.items():
            self.rules[rule_id] = min(due, now + self.every)
        for source in sources:
            if source.id in self.crawls:
                self.crawls[source.id] = min(self.crawls[source.id],
                                             next_crawl(source, now, now, self.zone))
        return True
