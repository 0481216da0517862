"""``monitor incidents tasks ID`` and ``monitor incidents task-done ID KEY``: the playbook tasks of
an incident (config/playbook.toml; docs/playbook.md).

The commands are plain functions of a desk (``monitor.cli_incidents.Desk`` or anything with its
``incidents`` and ``tz``); :func:`register` adds them to the ``incidents`` group::

    from monitor.cli_tasks import register as _register_tasks
    _register_tasks(incidents, Desk)
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

import click

from monitor.cli import Context, pass_ctx
from monitor.output import clip, echo_json, local_time, table


def tasks_of(desk):
    """The :class:`monitor.playbook.Tasks` of a desk's state database (same clock and people)."""
    from monitor.playbook import Tasks

    inc = desk.incidents
    return Tasks(inc.engine, clock=inc.clock, people=inc.people)


def _late(task, now: datetime) -> str:
    late = task.late(now)
    return "" if late is None else _span(late)


def _span(late: timedelta) -> str:
    minutes = int(late / timedelta(minutes=1))
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def show_tasks(desk, incident_id: str | None, *, overdue: bool = False,
               as_json: bool = False) -> list:
    """Print the tasks of one incident (or, with ``overdue``, every overdue task of the open
    incidents); returns them."""
    from monitor.incidents import NotFound

    tasks = tasks_of(desk)
    now = desk.incidents.clock()
    try:
        found = tasks.overdue(now) if overdue else tasks.list(incident_id)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    if overdue and incident_id:
        found = [t for t in found if t.incident_id == incident_id]
    if as_json:
        echo_json([{**t.to_dict(), "overdue": t.late(now) is not None} for t in found])
        return found
    when = lambda value: local_time(value, desk.tz) if value else ""  # noqa: E731
    headers = ["key", "task", "owner", "due", "state", "late", "done by", "done at", "note"]
    rows = [[t.key, clip(t.title, 24), t.owner, when(t.due_at), t.state, _late(t, now),
             t.done_by or "", when(t.done_at), clip(t.note or "", 30)] for t in found]
    if overdue:
        headers, rows = ["incident", *headers[:6]], [
            [t.incident_id, *row[:6]] for t, row in zip(found, rows)]
    click.echo(table(headers, rows))
    still = sum(1 for t in found if t.state == "open")
    late = sum(1 for t in found if t.late(now) is not None)
    if overdue:
        click.echo(f"{late} overdue task(s)")
    elif not found:
        click.echo(f"0 task(s): {incident_id} has no category yet, or the playbook gives its "
                   "category none")
    else:
        click.echo(f"{len(found)} task(s), {still} open, {late} overdue")
    return found


def task_done(desk, incident_id: str, key: str, *, note: str, actor: str,
              as_json: bool = False):
    """Record that ``actor`` did task ``key`` of the incident; a refusal (already audited)
    becomes a one-line error."""
    from monitor.incidents import NotFound, Refused

    try:
        task = tasks_of(desk).done(incident_id, key, by=actor, note=note)
    except (NotFound, Refused) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(task.to_dict())
        return task
    late = _span(task.done_at - task.due_at) if task.done_at > task.due_at else ""
    click.echo(f"{incident_id}: {task.key} done ({task.title}) by {task.done_by} at "
               f"{local_time(task.done_at, desk.tz)}" + (f", {late} late" if late else ""))
    return task


def register(group: click.Group, make_desk: Callable[..., object]) -> None:
    """Add ``tasks`` and ``task-done`` to ``group`` (the ``incidents`` group);
    ``make_desk(obj, acting=…)`` builds the desk from the CLI context."""

    @group.command("tasks")
    @click.argument("incident_id", required=False)
    @click.option("--overdue", is_flag=True,
                  help="Only overdue tasks (of every open incident when no ID is given).")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @pass_ctx
    def tasks_command(obj: Context, incident_id, overdue: bool, as_json: bool) -> None:
        """The playbook tasks of incident ID: owner, due time, state, who did them."""
        if not incident_id and not overdue:
            raise click.UsageError("give an incident ID, or --overdue for every overdue task")
        show_tasks(make_desk(obj, acting=False), incident_id, overdue=overdue,
                   as_json=as_json)

    @group.command("task-done")
    @click.argument("incident_id")
    @click.argument("key")
    @click.option("--note", default="", help="What was done, e.g. the URL it was published "
                                             "at (required).")
    @click.option("--as", "actor", envvar="MONITOR_USER", default="", metavar="NAME",
                  help="Who did it (default: $MONITOR_USER); must be a contact in org.toml.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @pass_ctx
    def task_done_command(obj: Context, incident_id: str, key: str, note: str, actor: str,
                          as_json: bool) -> None:
        """Record that task KEY (e.g. 虚假不实/refer) of incident ID was done."""
        task_done(make_desk(obj), incident_id, key, note=note, actor=actor, as_json=as_json)
