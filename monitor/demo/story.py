"""The demo's school-wall story after the crawl (issue 8, item 10 — the parts built so far):
the alert becomes an incident at 重大, its clocks run on a compressed clock, the county portal's
情况通报 is detected and confirmed as the release, the rumour is classified 虚假不实, the press
conference is held, and the incident's timeline is printed.

Everything goes through the same code as the commands (``monitor.response``, the service's
clocks and release detection); only time is compressed: the day of the story is replayed step
by step, each clock step fired at its own time.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from monitor.demo import words as W
from monitor.store import SearchQuery

DUTY, PRESS = "张三", "钱二"  # 值班员 and 新闻发言人 of the shipped org.toml


def run_story(service, occurred: datetime) -> str | None:
    """Play the story on ``service`` (started, after its first round); the incident id, or
    None when the school-safety alert did not fire."""
    from monitor.release_watch import watch

    found = [a for a in service.alerts.list(rule="school-safety-match")]
    if not found:
        return None
    response, clocks = service.response, service.clocks
    inc = response.open(f"{W.COLLAPSE_SCHOOL}围墙倒塌", by=DUTY, from_alert=found[-1].id,
                        occurred_at=occurred, level="重大",
                        why="学生受伤，媒体和网民集中关注，属重大突发事件舆情")
    own = service.monitor.store.search(SearchQuery(text="围墙 倒塌", own=True, sort="oldest",
                                                   limit=10)).hits
    acts = [(h.document.published_at or h.document.crawled_at, "own", h.document) for h in own]
    acts += [(occurred.replace(hour=16, minute=20), "category", None),
             (occurred.replace(hour=17, minute=0), "press", None)]
    end = occurred + timedelta(hours=26)
    for at, kind, doc in sorted(acts, key=lambda a: a[0]):
        _fire_until(clocks, at)
        if kind == "own":
            for proposal in watch(response, [(doc, "inserted")], at, outbox=service.outbox,
                                  route=service.roles):
                response.release(proposal.incident, url=proposal.url, channel="门户网站",
                                 at=proposal.at, by=PRESS)
        elif kind == "category":
            response.set_category(inc.id, "虚假不实", by=PRESS,
                                  why="网传“三名学生死亡”不实，公安机关已发布说明")
        else:
            response.press_conference_held(inc.id, at=at, by=PRESS)
    _fire_until(clocks, end)
    return inc.id


def _fire_until(clocks, until: datetime) -> None:
    """Fire every step due before ``until``, each at its own time (the compressed clock)."""
    while True:
        due = clocks.next_due()
        if due is None or due > until:
            return
        clocks.tick(due)


def timeline_lines(service, iid: str, tz: str) -> list[str]:
    """The incident's timeline and its clock steps, for the demo's output."""
    from monitor.output import clip, local_time

    lines = []
    for event in service.response.incidents.timeline(iid):
        lines.append(f"  {local_time(event.at, tz)}  {event.kind:<17} {clip(event.text, 70)}")
    steps = service.clocks.steps(iid)
    fired = [s for s in steps if s["state"] == "fired"]
    stopped = [s for s in steps if s["state"] == "cancelled"]
    breaches = service.clocks.breaches(iid)
    lines.append(f"  clocks: {len(fired)} reminders fired, {len(stopped)} steps stopped by the "
                 f"release and the press conference, {len(breaches)} breach(es)")
    for step in fired[:6]:
        lines.append(f"    {local_time(step['due_at'], tz)}  {step['key']}  → "
                     f"{'、'.join(step['roles'] or [])}")
    tasks = service.response.tasks.list(iid) if service.response.tasks is not None else []
    if tasks:
        lines.append("  playbook tasks (虚假不实): " + "; ".join(
            f"{t.title} → {t.owner}, due {local_time(t.due_at, tz)}" for t in tasks))
    return lines
