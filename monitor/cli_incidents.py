"""``monitor incidents``: open, classify and follow incidents (issue 8; docs/incidents.md).

Every act takes ``--as NAME`` (default ``$MONITOR_USER``) and is refused, with the refusal in
the audit trail, unless NAME is a contact of ``config/org.toml``.  Times given are read in the
office's zone (``[monitor] timezone``) and shown in it.
"""
from __future__ import annotations

from datetime import datetime

import click

from monitor.cli import Context, pass_ctx
from monitor.output import clip, echo_json, local_time, parse_when, table


class Desk:
    """The incidents of the configured state database; ``acting``: people are checked
    against org.toml's contacts."""

    def __init__(self, obj: Context, acting: bool = True):
        from monitor.incidents import Incidents
        from monitor.org import load_org
        from monitor.state import StateDB

        from monitor.clocks import Clocks
        from monitor.policy import load_policy
        from monitor.response import Response

        config = obj.config
        self.tz = config.timezone
        org = load_org(obj.config_dir)
        people = list(org.contacts) if acting else None
        engine = StateDB(config.state_url).engine
        self.incidents = Incidents(engine, timezone=self.tz, people=people)
        self.clocks = Clocks(engine, timezone_name=self.tz)  # the service fires them
        from monitor.playbook import Tasks, load_playbook

        self.response = Response(self.incidents, self.clocks, load_policy(obj.config_dir, org),
                                 tasks=Tasks(engine, clock=self.incidents.clock, people=people),
                                 playbook=load_playbook(obj.config_dir, org))

    def when(self, value: datetime | None) -> str:
        return local_time(value, self.tz)

    def parse(self, value: str | None, option: str, *, action: str, target: str,
              by: str) -> datetime | None:
        """A time given on the command line, in the office's zone (None if not given); one
        that does not parse is refused, and the refusal audited."""
        if value is None:
            return None
        try:
            return parse_when(value, tz=self.tz)
        except click.BadParameter as exc:
            self.incidents.refused(action, target, by, f"{option}: {exc.message}",
                                   {option.lstrip("-"): value})
            raise click.BadParameter(exc.message, param_hint=option) from None

    def act(self, verb: str, *args, **kwargs):
        """Call ``Response.<verb>`` (acts that move the clocks) or ``Incidents.<verb>``; a
        refusal (already audited) becomes a one-line error."""
        from monitor.incidents import NotFound, Refused

        target = self.response if hasattr(self.response, verb) else self.incidents
        try:
            return getattr(target, verb)(*args, **kwargs)
        except (NotFound, Refused) as exc:
            raise click.ClickException(str(exc)) from None


_as = click.option("--as", "actor", envvar="MONITOR_USER", default="", metavar="NAME",
                   help="Who does it (default: $MONITOR_USER); must be a contact in org.toml.")
_why = click.option("--why", default="", help="Why (required; recorded with who and when).")
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def incidents() -> None:
    """Incidents: open one from an alert or by hand, set its level and category, see its
    timeline."""


def _summary_line(inc) -> str:
    parts = [inc.id, inc.state, inc.level or "(no level)", inc.category or "(no category)"]
    return "  ".join(parts) + f"  {inc.title}"


@incidents.command("open")
@click.argument("title")
@click.option("--from-alert", "from_alert", metavar="ALERT_ID",
              help="Open from this alert: its documents are linked, its first firing is the "
                   "detected time.")
@click.option("--document", "documents", multiple=True, metavar="DOC_ID",
              help="Link a document (repeat for several).")
@click.option("--search", "from_search", metavar="QUERY", help="The search it was found by.")
@click.option("--event", "from_event", metavar="REF", help="The event it was opened from.")
@click.option("--occurred", metavar="WHEN", help="When it happened (e.g. 2026-12-01T08:30, 3h).")
@click.option("--detected", metavar="WHEN",
              help="When the office learnt of it (default: the alert's first firing, or now).")
@click.option("--level", help="特别重大, 重大, 较大 or 一般 (needs --why).")
@click.option("--category", help="建设性意见, 实际困难, 重大问题, 模糊认识, 错误看法 or 虚假不实 "
                                 "(needs --why).")
@_why
@click.option("--jurisdiction", metavar="TEXT", help="属地 (free text for now).")
@click.option("--unit", metavar="TEXT", help="The responsible unit (free text for now).")
@_as
@_json
@pass_ctx
def open_(obj: Context, title: str, from_alert, documents, from_search, from_event, occurred,
          detected, level, category, why, jurisdiction, unit, actor, as_json) -> None:
    """Open an incident called TITLE."""
    desk = Desk(obj)
    where = {"action": "incident.open", "target": "(new)", "by": actor}
    made = desk.act("open", title, by=actor, from_alert=from_alert, documents=documents,
                    from_search=from_search, from_event=from_event,
                    occurred_at=desk.parse(occurred, "--occurred", **where),
                    detected_at=desk.parse(detected, "--detected", **where), level=level,
                    category=category, why=why, jurisdiction=jurisdiction, unit=unit)
    if as_json:
        echo_json(made.to_dict())
        return
    links = desk.incidents.links(made.id)
    click.echo(f"opened {_summary_line(made)}")
    click.echo(f"detected {desk.when(made.detected_at)}"
               + (f", occurred {desk.when(made.occurred_at)}" if made.occurred_at else "")
               + (f"; {len(links)} link(s)" if links else ""))


@incidents.command("list")
@click.option("--state", type=click.Choice(["open", "closed", "all"]), default="open",
              show_default=True)
@_json
@pass_ctx
def list_(obj: Context, state: str, as_json: bool) -> None:
    """Incidents, newest first."""
    desk = Desk(obj, acting=False)
    found = desk.incidents.list(state=state)
    if as_json:
        echo_json([i.to_dict() for i in found])
        return
    click.echo(table(["id", "state", "level", "category", "unit", "detected", "opened by",
                      "title"],
                     [[i.id, i.state, i.level or "", i.category or "",
                       clip(i.responsible_unit or "", 16), desk.when(i.detected_at),
                       i.opened_by, clip(i.title, 40)] for i in found]))
    click.echo(f"{len(found)} incident(s)")


@incidents.command()
@click.argument("incident_id")
@_json
@pass_ctx
def show(obj: Context, incident_id: str, as_json: bool) -> None:
    """One incident: its times, links and its timeline in order."""
    desk = Desk(obj, acting=False)
    inc = desk.incidents.get(incident_id)
    if inc is None:
        raise click.ClickException(f"no incident {incident_id!r}; see monitor incidents list "
                                   "--state all")
    links, events = desk.incidents.links(inc.id), desk.incidents.timeline(inc.id)
    if as_json:
        echo_json({"incident": inc.to_dict(), "links": [x.to_dict() for x in links],
                   "timeline": [e.to_dict() for e in events]})
        return
    lines = [f"incident   {inc.id}", f"title      {inc.title}",
             f"state      {inc.state}   level {inc.level or '(unset)'}   "
             f"category {inc.category or '(unset)'}",
             f"unit       {inc.responsible_unit or '(unset)'}   "
             f"jurisdiction {inc.jurisdiction or '(unset)'}",
             f"occurred   {desk.when(inc.occurred_at) or '(unknown)'}",
             f"detected   {desk.when(inc.detected_at)}",
             f"confirmed  {desk.when(inc.confirmed_at) or '(not yet)'}",
             f"opened     {desk.when(inc.created_at)} by {inc.opened_by}"]
    if inc.closed_at:
        lines.append(f"closed     {desk.when(inc.closed_at)} by {inc.closed_by}: {inc.summary}")
    click.echo("\n".join(lines))
    click.echo(f"\nlinks ({len(links)})")
    click.echo(table(["kind", "ref", "note", "by", "at"],
                     [[x.kind, x.ref, clip(x.note, 30), x.added_by, desk.when(x.at)]
                      for x in links]))
    steps = desk.clocks.steps(inc.id)
    if steps:
        click.echo(f"\nclocks ({len(steps)} steps; `monitor run` fires them)")
        click.echo(table(["due", "step", "state", "who is told", "late"],
                         [[desk.when(x["due_at"]), x["key"], x["state"]
                           + (" · BREACH" if x["is_limit"] and x["state"] == "fired" else ""),
                           "、".join(x["roles"] or []),
                           f"{x['late_seconds'] / 60:.0f} min" if x["late_seconds"] else ""]
                          for x in steps]))
    click.echo(f"\ntimeline ({len(events)})")
    click.echo(table(["at", "what", "by", "recorded"],
                     [[desk.when(e.at), e.kind, e.actor,
                       desk.when(e.recorded_at) if e.recorded_at != e.at else ""]
                      for e in events], [e.text for e in events]))


def _changed(inc, what: str, as_json: bool) -> None:
    if as_json:
        echo_json(inc.to_dict())
    else:
        click.echo(f"{inc.id}: {what}")


def _classify_command(field: str, help_text: str) -> None:
    """``level`` or ``category``: a person sets FIELD of an incident, with a reason."""

    @_why
    @_as
    @_json
    @pass_ctx
    def command(obj: Context, incident_id: str, value: str, why: str, actor: str,
                as_json: bool) -> None:
        desk = Desk(obj)
        inc = desk.act(f"set_{field}", incident_id, value, by=actor, why=why)
        if field == "level" and not desk.response.policy.exists:
            click.secho("warning: no escalation.toml in the configuration: no deadline clock "
                        "runs for this level (`monitor init` writes one)", fg="yellow", err=True)
        _changed(inc, f"{field} {getattr(inc, field)} (by {actor.strip()}: {why.strip()})",
                 as_json)

    command.__doc__ = help_text
    command = click.argument("value", metavar=field.upper())(command)
    incidents.command(name=field)(click.argument("incident_id")(command))


_classify_command("level", "Set the LEVEL of an incident: 特别重大, 重大, 较大 or 一般.")
_classify_command("category", "Set the response CATEGORY: 建设性意见, 实际困难, 重大问题, "
                              "模糊认识, 错误看法, 虚假不实.")


@incidents.command()
@click.argument("incident_id")
@click.option("--at", "at", required=True, metavar="WHEN",
              help="When it was confirmed (e.g. 2026-12-01T10:40, 30m).")
@_as
@_json
@pass_ctx
def confirm(obj: Context, incident_id: str, at: str, actor: str, as_json: bool) -> None:
    """Record when the incident was confirmed (the third of its times)."""
    desk = Desk(obj)
    inc = desk.act("confirm", incident_id, desk.parse(
        at, "--at", action="incident.confirm", target=incident_id, by=actor), by=actor)
    _changed(inc, f"confirmed {desk.when(inc.confirmed_at)}", as_json)


@incidents.command()
@click.argument("incident_id")
@click.option("--document", "documents", multiple=True, metavar="DOC_ID",
              help="A document to link (repeat for several).")
@click.option("--alert", "alert_ids", multiple=True, metavar="ALERT_ID",
              help="An alert to link; its documents come with it.")
@click.option("--event", "event_refs", multiple=True, metavar="REF")
@click.option("--search", "searches", multiple=True, metavar="QUERY")
@click.option("--note", default="", help="Why it belongs to the incident.")
@_as
@_json
@pass_ctx
def link(obj: Context, incident_id: str, documents, alert_ids, event_refs, searches, note,
         actor, as_json) -> None:
    """Link documents, alerts, events or searches to an incident."""
    wanted = [("document", d) for d in documents] + [("alert", a) for a in alert_ids] + [
        ("event", e) for e in event_refs] + [("search", s) for s in searches]
    if not wanted:
        raise click.UsageError("name what to link: --document ID, --alert ID, --event REF or "
                               "--search QUERY")
    desk = Desk(obj)
    added = []
    for kind, ref in wanted:  # one act each; those before a refusal stay linked
        added += desk.act("link", incident_id, kind, ref, by=actor, note=note)
    if as_json:
        echo_json([x.to_dict() for x in added])
        return
    for x in added:
        click.echo(f"{incident_id}: linked {x.kind} {x.ref}")


@incidents.command()
@click.argument("incident_id")
@click.option("--jurisdiction", metavar="TEXT", help="属地 (free text for now).")
@click.option("--unit", metavar="TEXT", help="The responsible unit (free text for now).")
@_why
@_as
@_json
@pass_ctx
def assign(obj: Context, incident_id: str, jurisdiction, unit, why, actor, as_json) -> None:
    """Override the jurisdiction or responsible unit of an incident."""
    desk = Desk(obj)
    inc = desk.act("assign", incident_id, jurisdiction=jurisdiction, unit=unit, by=actor,
                   why=why)
    _changed(inc, f"unit {inc.responsible_unit or '(unset)'}, jurisdiction "
                        f"{inc.jurisdiction or '(unset)'}", as_json)


@incidents.command()
@click.argument("incident_id")
@click.option("--summary", default="", help="What was done (required).")
@_as
@_json
@pass_ctx
def close(obj: Context, incident_id: str, summary: str, actor: str, as_json: bool) -> None:
    """Close an incident with a summary; after that nothing about it changes."""
    desk = Desk(obj)
    inc = desk.act("close", incident_id, summary, by=actor)
    _changed(inc, f"closed {desk.when(inc.closed_at)}: {inc.summary}", as_json)


@incidents.command()
@click.argument("incident_id")
@click.option("--url", required=True, help="Where the authoritative information was published.")
@click.option("--channel", "outlet", required=True, metavar="NAME",
              help="The outlet, e.g. 门户网站, 政务微博, 新闻发布会.")
@click.option("--at", "at", metavar="WHEN",
              help="When it was published (default: now; not before the occurrence, not in "
                   "the future), e.g. 2026-12-01T11:40 or 20m (ago).")
@_as
@_json
@pass_ctx
def release(obj: Context, incident_id: str, url: str, outlet: str, at: str, actor: str,
            as_json: bool) -> None:
    """Record the authoritative release of an incident: it stops the 3 h / 5 h release clocks
    (the URL and the time are the evidence) and starts the rolling-release reminders."""
    desk = Desk(obj)
    when = _at(desk, at, "incident.release", incident_id, actor)
    inc = desk.act("release", incident_id, url=url, channel=outlet, at=when, by=actor)
    _changed(inc, f"released on {outlet} at {desk.when(when)}: {url}", as_json)


def _at(desk: "Desk", at: str | None, action: str, target: str, by: str) -> datetime:
    from datetime import timezone

    if not at:
        return datetime.now(timezone.utc)
    return desk.parse(at, "--at", action=action, target=target, by=by)


@incidents.command()
@click.argument("incident_id")
@click.option("--url", required=True, help="Where the follow-up was published.")
@click.option("--channel", "outlet", required=True, metavar="NAME")
@click.option("--at", "at", metavar="WHEN", help="When it was published (default: now).")
@_as
@_json
@pass_ctx
def followup(obj: Context, incident_id: str, url: str, outlet: str, at: str | None,
             actor: str, as_json: bool) -> None:
    """Record a rolling release (持续发布) after the first; the reminders count from it."""
    desk = Desk(obj)
    when = _at(desk, at, "incident.followup", incident_id, actor)
    inc = desk.act("followup", incident_id, url=url, channel=outlet, at=when, by=actor)
    _changed(inc, f"follow-up on {outlet} at {desk.when(when)}: {url}", as_json)


@incidents.group("press-conference")
def press_conference() -> None:
    """The press conference of an incident: plan it (warned when it misses the deadline),
    record that it was held (its clock stops)."""


@press_conference.command("plan")
@click.argument("incident_id")
@click.option("--at", "at", required=True, metavar="WHEN", help="When it will be held.")
@_why
@_as
@_json
@pass_ctx
def press_plan(obj: Context, incident_id: str, at: str, why: str, actor: str,
               as_json: bool) -> None:
    """Record the planned time; says at once if it misses the press-conference deadline."""
    desk = Desk(obj)
    when = desk.parse(at, "--at", action="incident.press_plan", target=incident_id, by=actor)
    inc, late = desk.act("plan_press_conference", incident_id, at=when, by=actor, why=why)
    if late:
        click.secho(f"warning: {late}", fg="red", err=True)
    _changed(inc, f"press conference planned for {desk.when(when)}", as_json)


@press_conference.command("held")
@click.argument("incident_id")
@click.option("--at", "at", metavar="WHEN", help="When it was held (default: now).")
@_as
@_json
@pass_ctx
def press_held(obj: Context, incident_id: str, at: str | None, actor: str,
               as_json: bool) -> None:
    """Record that the press conference was held: its clock stops."""
    desk = Desk(obj)
    when = _at(desk, at, "incident.press_held", incident_id, actor)
    inc = desk.act("press_conference_held", incident_id, at=when, by=actor)
    _changed(inc, f"press conference held at {desk.when(when)}", as_json)


from monitor.cli_tasks import register as _register_tasks  # noqa: E402 (needs Desk)

_register_tasks(incidents, Desk)
