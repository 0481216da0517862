"""``monitor rules``: list, check and replay alert rules (``config/rules/*.toml``), sending
nothing."""
from __future__ import annotations

from datetime import datetime, timezone

import click

from monitor.cli import Context, pass_ctx
from monitor.output import echo_json, local_time, table


@click.group()
def rules() -> None:
    """List, check and test alert rules (config/rules/*.toml)."""


def _load(obj: Context):
    from alerts.rules import load_rules

    found, problems = load_rules(obj.config_dir)
    return found, problems + contact_problems(found.values(), obj.config_dir)


def contact_problems(rules, config_dir):
    """Problems with org.toml and with the rules' ``contacts``: unknown names, and people
    reached through channels that channels.toml does not define (not checked without it)."""
    from alerts.channels_config import CHANNELS_FILE, load_channels
    from monitor.errors import ConfigError
    from monitor.org import load_org

    try:
        org = load_org(config_dir)
    except ConfigError as exc:
        return [exc]  # the rules' contacts cannot be checked against a broken file
    known = (load_channels(config_dir).names() if (config_dir / CHANNELS_FILE).exists()
             else None)
    return [ConfigError(problem, path=rule.path, key="contacts")
            for rule in rules for problem in org.check(rule.contacts, known)]


@rules.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_(obj: Context, as_json: bool) -> None:
    """Every rule: id, type, severity, enabled and channels (problems on stderr)."""
    found, problems = _load(obj)
    if as_json:
        echo_json({"rules": [r.to_dict() for r in found.values()],
                   "problems": [str(p) for p in problems]})
        return
    click.echo(table(["id", "type", "severity", "enabled", "channels", "name"],
                     [[r.id, r.type, r.severity, "on" if r.enabled else "off",
                       ", ".join(r.channels), r.name] for r in found.values()]))
    for problem in problems:
        click.secho(f"error: {problem}", fg="red", err=True)


@rules.command()
@pass_ctx
def check(obj: Context) -> None:
    """Every problem of every rule file; exit status 1 if there is any."""
    found, problems = _load(obj)
    for rule in found.values():
        for note in rule.warnings:
            click.secho(f"warning: {rule.path}: [group_by] {note}", fg="yellow", err=True)
    for problem in problems:
        click.secho(f"error: {problem}", fg="red", err=True)
    bad = len({str(p.path) for p in problems})
    click.echo(f"{len(found)} rule(s) loaded, {len(problems)} problem(s)"
               + (f" in {bad} file(s)" if problems else ""))
    if problems:
        raise SystemExit(1)


@rules.command()
@click.argument("rule_id")
@click.option("--since", default="24h", show_default=True,
              help="Replay from this time: 24h, 7d, 30m or a date.")
@click.option("--until", help="Replay up to this time (default: now).")
@click.option("--step", "step_minutes", type=click.IntRange(1, 10080), default=None,
              help="Minutes between evaluations (default: the rule's window, 5 for "
                   "per-document rules).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def test(obj: Context, rule_id: str, since: str, until: str | None, step_minutes: int | None,
         as_json: bool) -> None:
    """Replay stored documents through one rule and print what would have fired and when
    (nothing is sent, no state is kept)."""
    from alerts.ruletypes import replay
    from monitor.output import parse_when
    from monitor.workdays import WorkCalendar

    found, problems = _load(obj)
    if rule_id not in found:
        mine = [p for p in problems if p.path is not None and p.path.stem == rule_id]
        raise click.ClickException(str(mine[0]) if mine else
                                   f"no rule {rule_id!r}; see monitor rules list")
    rule = found[rule_id]
    tz = obj.config.timezone
    now = datetime.now(timezone.utc)
    start = parse_when(since, tz=tz, now=now)
    end = parse_when(until, tz=tz, now=now) if until else now
    calendar = WorkCalendar.load(obj.config_dir, timezone=tz, strict=False)
    events = replay(rule, obj.monitor.store, start, end, step_minutes=step_minutes or 0,
                    calendar=calendar)
    if as_json:
        echo_json([{"at": e.at.isoformat(), "resolved": e.firing.resolved,
                    "group": e.firing.group, "count": e.firing.count,
                    "window": [w.isoformat() for w in e.firing.window],
                    "documents": e.firing.documents, "reason": e.firing.reason}
                   for e in events])
        return
    click.echo(f"rule {rule.id} ({rule.type}) from {local_time(start, tz)} to "
               f"{local_time(end, tz)}: {len(events)} event(s), nothing sent")
    if events:
        click.echo(table(["at", "", "count", "reason", "documents"],
                         [[local_time(e.at, tz), "resolved" if e.firing.resolved else "FIRING",
                           e.firing.count, e.firing.reason, " ".join(e.firing.documents[:3])]
                          for e in events]))
