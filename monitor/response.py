"""The response to an incident: its deadline clocks, started from ``config/escalation.toml``
when a person sets its level, moved when it is confirmed or its level changes, and stopped by
what they wait for — the authoritative release (issue 8, items 2–4; docs/escalation.md).

:class:`Response` joins :class:`monitor.incidents.Incidents` (the acts, their timeline and
audit rows), :class:`monitor.clocks.Clocks` (the steps, fired by ``monitor run``) and
:class:`monitor.policy.Policy` (the numbers).  Step keys carry the level
(``重大/release_limit/due``): a level changed later cancels the pending steps of the old one and
arms the new one's, and arming twice adds nothing.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, select, update

from monitor.clocks import CANCELLED, PENDING, Clocks, StepSpec, clock_steps
from monitor.incident_tables import Refused, aware, required
from monitor.incidents import Incidents
from monitor.policy import Policy, due_steps

RELEASE_CLOCKS = ("release_target", "release_limit")
FUTURE_SLACK = timedelta(minutes=1)  # a release "now" typed on a clock a little ahead


def _text(step, level: str) -> str:
    what = {"release_target": "发布权威信息目标时限", "release_limit": "最迟发布权威信息时限",
            "press_conference": "新闻发布会时限", "rolling_release": "持续发布提醒"}
    name = what.get(step.clock, step.clock)
    hours = step.elapsed.total_seconds() / 3600
    if step.kind == "deadline":
        return f"{level}：{name}（{hours:g} 小时）已到"
    if step.kind == "reminder":
        return f"{level}：{name}（每 {hours:g} 小时）"
    return f"{level}：距{name}还有 {hours:g} 小时节点"


class Response:
    """Incidents with their clocks."""

    def __init__(self, incidents: Incidents, clocks: Clocks, policy: Policy, *, tasks=None,
                 playbook=None):
        self.incidents = incidents
        self.clocks = clocks
        self.policy = policy
        self.tasks, self.playbook = tasks, playbook  # the six-category playbook (playbook.py)

    def _playbook_tasks(self, inc, by: str, at: datetime) -> list:
        """Create the tasks of the incident's category (docs/playbook.md)."""
        from monitor import audit

        if self.tasks is None or self.playbook is None or not inc.category:
            return []
        with audit.transaction(self.incidents.engine) as conn:
            return self.tasks.create_for(conn, inc.id, inc.category, at, self.playbook, by=by)

    def set_category(self, iid: str, category: str, *, by: str, why: str):
        """Set the response category and create its playbook tasks (the old category's open
        tasks are cancelled)."""
        inc = self.incidents.set_category(iid, category, by=by, why=why)
        self._playbook_tasks(inc, by, self.incidents.clock())
        return inc

    def anchors(self, inc) -> dict[str, datetime]:
        """The moments the clocks count from (the ones the incident has).  An occurrence not
        known yet counts as the detection, so that the clocks counted from it (the press
        conference) still run; recording the occurrence later moves them."""
        found = {"occurred": inc.occurred_at or inc.detected_at, "detected": inc.detected_at,
                 "confirmed": inc.confirmed_at, "released": self._latest_release(inc.id)}
        return {k: v for k, v in found.items() if v is not None}

    def arm(self, iid: str, *, conn=None) -> int:
        """Write the steps of the incident's level (pending steps of another level, or timed
        from an anchor that moved, are cancelled first); returns how many were new."""
        inc = self.incidents.get(iid)
        if inc is None or not inc.level or inc.state != "open" or not self.policy.exists:
            return 0  # no escalation.toml: levels are kept, no clock runs
        level = self.policy.level(inc.level)
        anchors = self.anchors(inc)
        specs = []
        for clock in level.clocks:
            if clock.kind == "rolling" and "released" not in anchors:
                continue  # rolling releases start with the first release
            if clock.name in RELEASE_CLOCKS and "released" in anchors:
                continue  # released: the release clocks have stopped
            if clock.kind == "press" and self._held(iid):
                continue  # the press conference was held
            for step in due_steps(clock, anchors, until=self.incidents.clock()):
                specs.append(StepSpec(f"{inc.level}/{step.key}", clock.name, step.kind,
                                      step.at, list(step.roles), limit=step.breach,
                                      text=_text(step, inc.level)))
        return self._replace(iid, specs, conn)

    def _replace(self, iid: str, specs: list[StepSpec], conn) -> int:
        def go(c) -> int:
            wanted = {s.key: s for s in specs}
            for row in c.execute(select(clock_steps).where(and_(
                    clock_steps.c.incident == iid, clock_steps.c.state == PENDING))).all():
                spec = wanted.get(row.key)
                if spec is None or spec.at.timestamp() != row.due_at.replace(
                        tzinfo=spec.at.tzinfo).timestamp():
                    c.execute(update(clock_steps).where(clock_steps.c.id == row.id)
                              .values(state=CANCELLED))
                    if spec is not None:  # re-timed: the new time under a new key
                        spec.key = f"{spec.key}@{int(spec.at.timestamp())}"
            return self.clocks.arm(iid, specs, conn=c)
        if conn is not None:
            return go(conn)
        with self.incidents.engine.begin() as c:
            return go(c)

    # -- acts that move the clocks --------------------------------------------------------------

    def open(self, title: str, **kwargs):
        """Open an incident (``Incidents.open``); a level given at once starts its clocks."""
        if kwargs.get("level") and self.policy.exists:
            self.policy.level(kwargs["level"])
        inc = self.incidents.open(title, **kwargs)
        self.arm(inc.id)
        self._playbook_tasks(inc, kwargs["by"], inc.created_at)
        return inc

    def set_level(self, iid: str, level: str, *, by: str, why: str):
        """Set the level (a person's act, recorded) and start that level's clocks."""
        if self.policy.exists:  # a level the policy lacks is refused before anything is written
            self.policy.level(level)
        inc = self.incidents.set_level(iid, level, by=by, why=why)
        self.arm(iid)
        return inc

    def confirm(self, iid: str, at: datetime, *, by: str):
        """Record the confirmation; clocks counted from it start (or move)."""
        inc = self.incidents.confirm(iid, at, by=by)
        self.arm(iid)
        return inc

    def released_at(self, iid: str) -> datetime | None:
        """When the first authoritative release was published (None: not yet)."""
        first = [e.at for e in self.incidents.timeline(iid) if e.kind == "release"]
        return min(first) if first else None

    def _latest_release(self, iid: str) -> datetime | None:
        times = [e.at for e in self.incidents.timeline(iid) if e.kind in ("release", "followup")]
        return max(times) if times else None

    def _held(self, iid: str) -> bool:
        return any(e.kind == "press_held" for e in self.incidents.timeline(iid))

    def press_due(self, inc) -> datetime | None:
        """When the press conference is due under the incident's level (None: no such clock)."""
        if not inc.level or not self.policy.exists:
            return None
        clock = self.policy.level(inc.level).clock("press_conference")
        steps = due_steps(clock, self.anchors(inc)) if clock is not None else []
        return steps[-1].at if steps else None

    def release(self, iid: str, *, url: str, channel: str, at: datetime, by: str):
        """Record an authoritative release (the URL and time are the evidence): it stops the
        release clocks and starts the rolling-release reminders.  A release before the
        occurrence or in the future, or a second one once the release clocks have stopped, is
        refused (record later ones with ``followup``)."""
        inc_ = self.incidents

        def body(conn, now):
            inc = inc_._load(conn, iid, "its releases")
            when = aware(at, "release")
            where = required(url, "a release needs the URL it was published at (--url)")
            outlet = required(channel, "a release needs the channel it went out on (--channel)")
            if when > now + FUTURE_SLACK:
                raise Refused(f"the release time {inc_._when(when)} is in the future")
            if inc.occurred_at is not None and when < inc.occurred_at:
                raise Refused(f"the release time {inc_._when(when)} is before the incident "
                              f"occurred ({inc_._when(inc.occurred_at)})")
            if self.released_at(iid) is not None:
                raise Refused(f"incident {iid} already has its authoritative release; its "
                              "release clocks have stopped (record later ones as follow-ups)")
            stopped = sum(self.clocks.cancel(iid, name, conn=conn) for name in RELEASE_CLOCKS)
            limit = self._limit_due(inc)
            late = f"，超过最迟时限 {(when - limit) / timedelta(minutes=1):.0f} 分钟" \
                if limit is not None and when > limit else ""
            inc_._event(conn, iid, when, now, by, "release",
                        f"权威信息发布：{outlet} {where}{late}",
                        {"url": where, "channel": outlet, "stopped_steps": stopped})
            inc_._audit(conn, now, by, "incident.release", iid, None,
                        {"url": where, "channel": outlet, "at": when.isoformat()})
            return inc_._load(conn, iid)

        done = inc_._act("incident.release", iid, by, {"url": url, "channel": channel,
                                                       "at": str(at)}, body)
        self.arm(iid)  # the rolling reminders, counted from the release
        return done

    def _limit_due(self, inc) -> datetime | None:
        if not inc.level or not self.policy.exists:
            return None
        clock = self.policy.level(inc.level).clock("release_limit")
        if clock is None:
            return None
        steps = due_steps(clock, self.anchors(inc))
        return steps[-1].at if steps else None


    # -- the press office's other acts ----------------------------------------------------------

    def _past(self, inc, when: datetime, what: str, now: datetime) -> datetime:
        when = aware(when, what)
        if when > now + FUTURE_SLACK:
            raise Refused(f"the {what} time {self.incidents._when(when)} is in the future")
        if inc.occurred_at is not None and when < inc.occurred_at:
            raise Refused(f"the {what} time {self.incidents._when(when)} is before the "
                          f"incident occurred ({self.incidents._when(inc.occurred_at)})")
        return when

    def followup(self, iid: str, *, url: str, channel: str, at: datetime, by: str):
        """Record a rolling release (持续发布) after the first one; the reminders count again
        from it."""
        inc_ = self.incidents

        def body(conn, now):
            inc = inc_._load(conn, iid, "its releases")
            when = self._past(inc, at, "follow-up", now)
            if self.released_at(iid) is None:
                raise Refused(f"incident {iid} has no authoritative release yet; record it "
                              "with `release` first")
            where = required(url, "a follow-up needs the URL it was published at (--url)")
            outlet = required(channel, "a follow-up needs its channel (--channel)")
            inc_._event(conn, iid, when, now, by, "followup", f"持续发布：{outlet} {where}",
                        {"url": where, "channel": outlet})
            inc_._audit(conn, now, by, "incident.followup", iid, None,
                        {"url": where, "channel": outlet, "at": when.isoformat()})
            return inc_._load(conn, iid)

        done = inc_._act("incident.followup", iid, by, {"url": url, "at": str(at)}, body)
        self.arm(iid)
        return done

    def plan_press_conference(self, iid: str, *, at: datetime, by: str, why: str = ""):
        """Record the planned press conference; returns (incident, warning) where the warning
        says by how much the plan misses the press-conference deadline ("" when it does not)."""
        inc_ = self.incidents

        def body(conn, now):
            inc = inc_._load(conn, iid, "its press conference")
            when = aware(at, "press conference")
            due = self.press_due(inc)
            late = ""
            if due is not None and when > due:
                late = (f"the plan is {(when - due) / timedelta(hours=1):.1f} h after the "
                        f"press-conference deadline ({inc_._when(due)})")
            inc_._event(conn, iid, now, now, by, "press_plan",
                        f"新闻发布会计划：{inc_._when(when)}" + (f"（{late}）" if late else ""),
                        {"at": when.isoformat(), "late": late, "why": why})
            inc_._audit(conn, now, by, "incident.press_plan", iid, None,
                        {"at": when.isoformat(), "misses_deadline": bool(late)}, why)
            return inc_._load(conn, iid), late

        return inc_._act("incident.press_plan", iid, by, {"at": str(at)}, body)

    def press_conference_held(self, iid: str, *, at: datetime, by: str):
        """Record that the press conference was held: its clock stops."""
        inc_ = self.incidents

        def body(conn, now):
            inc = inc_._load(conn, iid, "its press conference")
            when = self._past(inc, at, "press conference", now)
            if self._held(iid):
                raise Refused(f"incident {iid} already has its press conference recorded")
            stopped = self.clocks.cancel(iid, "press_conference", conn=conn)
            due = self.press_due(inc)
            late = f"，超过时限 {(when - due) / timedelta(hours=1):.1f} 小时" \
                if due is not None and when > due else ""
            inc_._event(conn, iid, when, now, by, "press_held", f"新闻发布会已举行{late}",
                        {"stopped_steps": stopped})
            inc_._audit(conn, now, by, "incident.press_held", iid, None,
                        {"at": when.isoformat()})
            return inc_._load(conn, iid)

        return inc_._act("incident.press_held", iid, by, {"at": str(at)}, body)

    def close(self, iid: str, summary: str, *, by: str):
        """Close the incident (``Incidents.close``); every pending step of its clocks stops and
        its open playbook tasks are cancelled."""
        inc = self.incidents.close(iid, summary, by=by)
        self.clocks.cancel(iid)
        if self.tasks is not None and self.playbook is not None:  # its open tasks end too
            from monitor import audit

            with audit.transaction(self.incidents.engine) as conn:
                self.tasks.create_for(conn, iid, None, self.incidents.clock(), self.playbook,
                                      by=by)
        return inc
