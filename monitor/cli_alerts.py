"""``monitor alerts``: the alerts in the state database, their outbox and silences.

Reads and changes what :class:`alerts.lifecycle.Alerts` and :class:`alerts.outbox.Outbox` keep;
it never sends anything itself (the service delivers what is queued here, such as the resolved
notice of a resolve).  Times are shown in the office's zone (``[monitor] timezone``).
"""
from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

import click
from sqlalchemy import select

from monitor import durations
from monitor.cli import Context, pass_ctx
from monitor.output import clip, echo_json, local_time, table

STATES = ("open", "firing", "acknowledged", "resolved", "flapping", "all")
MAX_SILENCE = 90 * 86400  # s: a longer silence is a rule to switch off, not a silence


def parse_duration(text: str) -> float:
    """Seconds in ``30m`` / ``2h`` / ``1d`` / ``1h30m``; ValueError (one line) when it is not
    a positive duration of at most 90 days."""
    seconds = durations.parse_duration(text, longest=None)
    if seconds > MAX_SILENCE:
        raise ValueError(f"{text!r} is longer than {MAX_SILENCE // 86400} days; "
                         "disable the rule instead (enabled = false in its file)")
    return seconds


def _duration(ctx, param, value):
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _groups(ctx, param, values) -> dict[str, str] | None:
    group: dict[str, str] = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: use KEY=VALUE, e.g. --group place=城关镇")
        group[key.strip()] = val.strip()
    return group or None


class Book:
    """The alerts and outbox of the configured state database (opened on first use)."""

    def __init__(self, obj: Context):
        from alerts.channels_config import load_channels
        from alerts.lifecycle import Alerts
        from alerts.outbox import Outbox
        from monitor.state import StateDB

        config = obj.config
        self.tz = config.timezone
        self.engine = StateDB(config.state_url).engine
        # Every channel named in channels.toml, usable here or not: this process only queues
        # (a resolved notice), the service sends.  Its environment may hold secrets this one
        # lacks, so a channel is not dead-lettered for them here; a name the file does not
        # have at all still is (visible in `monitor alerts outbox`).
        found = load_channels(obj.config_dir)
        names = {n: found.channels.get(n) for n in found.names() if n not in found.disabled}
        self.outbox = Outbox(self.engine, names)  # type: ignore[arg-type]
        self.alerts = Alerts(self.outbox, timezone=self.tz)

    def when(self, value: datetime | None) -> str:
        return local_time(value, self.tz)


def _book(obj: Context) -> Book:
    return Book(obj)


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _plain(data: dict) -> dict:
    return {k: _iso(v) for k, v in data.items()}


def _group_text(key: str) -> str:
    try:
        group = json.loads(key)
    except (TypeError, ValueError):
        return key or ""
    if isinstance(group, dict):
        return ", ".join(f"{k}={v}" for k, v in group.items())
    return "" if group in (None, {}) else str(group)


def _alert_dict(alert) -> dict:
    data = _plain(asdict(alert))
    try:
        data["group"] = json.loads(alert.group_key)
    except (TypeError, ValueError):
        data["group"] = alert.group_key
    return data


def _title(alert) -> str:
    return (alert.message or {}).get("title") or ""


@click.group()
def alerts() -> None:
    """Alerts: list, show, acknowledge, resolve; the outbox; silences."""


@alerts.command("list")
@click.option("--state", type=click.Choice(STATES), default="open", show_default=True,
              help="open = firing, acknowledged or flapping.")
@click.option("--rule", help="Only this rule's alerts.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_(obj: Context, state: str, rule: str | None, limit: int, as_json: bool) -> None:
    """Alerts, newest first."""
    from alerts.tables import OPEN_STATES

    book = _book(obj)
    found = book.alerts.list(state=None if state in ("open", "all") else state, rule=rule)
    if state == "open":
        found = [a for a in found if a.state in OPEN_STATES]
    shown = found[:limit]
    if as_json:
        echo_json([_alert_dict(a) for a in shown])
        return
    click.echo(table(["id", "state", "severity", "rule", "group", "fired", "last", "count",
                      "by", "title"],
                     [[a.id, a.state, a.severity, a.rule, clip(_group_text(a.group_key), 30),
                       book.when(a.first_fired_at), book.when(a.last_fired_at), a.fire_count,
                       a.resolved_by or a.acked_by or "", clip(_title(a), 30)]
                      for a in shown]))
    more = len(found) - len(shown)
    click.echo(f"{len(shown)} of {len(found)} alert(s)" + (f"; --limit to see {more} more"
                                                           if more else ""))


def _must_get(book: Book, aid: str):
    alert = book.alerts.get(aid)
    if alert is None:
        raise click.ClickException(f"no alert {aid!r}; see monitor alerts list --state all")
    return alert


def _notices(book: Book, aid: str) -> list[dict]:
    from alerts.tables import alert_notices, utc

    with book.engine.connect() as conn:
        rows = conn.execute(select(alert_notices.c.notice_id, alert_notices.c.kind,
                                   alert_notices.c.severity, alert_notices.c.created_at)
                            .where(alert_notices.c.alert_id == aid)
                            .order_by(alert_notices.c.created_at)).all()
    return [{"notice_id": r.notice_id, "kind": r.kind, "severity": r.severity,
             "created_at": utc(r.created_at)} for r in rows]


@alerts.command()
@click.argument("alert_id")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(obj: Context, alert_id: str, as_json: bool) -> None:
    """One alert: its group, counts, every transition, its notices and their deliveries."""
    book = _book(obj)
    alert = _must_get(book, alert_id)
    moves = book.alerts.transitions(alert_id)
    notices = _notices(book, alert_id)
    sends = book.outbox.deliveries(alert_id=alert_id)
    if as_json:
        echo_json({"alert": _alert_dict(alert), "transitions": [_plain(t) for t in moves],
                   "notices": [_plain(n) for n in notices],
                   "deliveries": [_plain(asdict(d)) for d in sends]})
        return
    message = alert.message or {}
    lines = [f"alert     {alert.id}",
             f"title     {message.get('title', '')}",
             f"rule      {alert.rule}" + (f" ({message['rule_name']})"
                                          if message.get("rule_name") else ""),
             f"group     {_group_text(alert.group_key) or '(all)'}",
             f"state     {alert.state}   severity {alert.severity}",
             f"fired     {book.when(alert.first_fired_at)} first, "
             f"{book.when(alert.last_fired_at)} last, {alert.fire_count} time(s)"]
    if message.get("count") is not None:
        lines.append(f"count     {message['count']}")
    if message.get("reason"):
        lines.append(f"reason    {message['reason']}")
    if alert.acked_by:
        lines.append(f"acked     {book.when(alert.acked_at)} by {alert.acked_by}"
                     + (f": {alert.ack_comment}" if alert.ack_comment else ""))
    if alert.resolved_by:
        lines.append(f"resolved  {book.when(alert.resolved_at)} by {alert.resolved_by}"
                     + (f": {alert.resolve_comment}" if alert.resolve_comment else ""))
    lines.append(f"channels  {', '.join(alert.channels or []) or '(none)'}")
    click.echo("\n".join(lines))
    click.echo(f"\ntransitions ({len(moves)})")
    click.echo(table(["at", "action", "from", "to", "by", "comment"],
                     [[book.when(t["at"]), t["action"], t["from_state"] or "", t["to_state"],
                       t["actor"] or "", t["comment"] or ""] for t in moves]))
    click.echo(f"\nnotices ({len(notices)})")
    by_notice: dict[str, list] = {}
    for d in sends:
        by_notice.setdefault(d.notice_id, []).append(d)
    rows, notes = [], []
    for n in notices:
        for i, d in enumerate(by_notice.get(n["notice_id"]) or [None]):
            rows.append([book.when(n["created_at"]) if i == 0 else "",
                         n["kind"] if i == 0 else "",
                         d.id if d else "", d.channel if d else "(no channel)",
                         d.state if d else "", d.attempts if d else "",
                         book.when(d.sent_at) if d else ""])
            notes.append(f"last error: {d.last_error}" if d and d.last_error else None)
    click.echo(table(["created", "kind", "delivery", "channel", "state", "attempts", "sent"],
                     rows, notes))


def _change(obj: Context, verb: str, alert_id: str, by: str, comment: str, as_json: bool):
    book = _book(obj)
    try:
        alert = getattr(book.alerts, verb)(alert_id, by, comment or "")
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(_alert_dict(alert))
        return
    click.echo(f"{alert.id}: {alert.state} (by {by}"
               f"{', ' + comment if comment else ''})")


_by = click.option("--by", "--as", "by", envvar=["MONITOR_USER", "USER"], required=True,
                   metavar="NAME", help="Who does it (default: $MONITOR_USER, else $USER); "
                                        "recorded with the alert.")
_comment = click.option("--comment", default="", help="Why; recorded with the alert.")
_json = click.option("--json", "as_json", is_flag=True)


def _state_command(action: str, help_text: str) -> None:
    """One of the person's acts on an alert (ack, unack, resolve): same options, same output."""

    @_by
    @_comment
    @_json
    @pass_ctx
    def command(obj: Context, alert_id: str, by: str, comment: str, as_json: bool) -> None:
        _change(obj, action, alert_id, by, comment, as_json)

    command.__doc__ = help_text
    alerts.command(name=action)(click.argument("alert_id")(command))


_state_command("ack", "Acknowledge a firing or flapping alert (stops its escalation).")
_state_command("unack", "Put an acknowledged alert back to firing (its escalation clock "
                        "restarts).")
_state_command("resolve", "Resolve an open alert by hand (a resolved notice is queued for "
                          "everyone told).")


@alerts.command()
@click.option("--dead", is_flag=True, help="Dead letters only.")
@click.option("--pending", is_flag=True, help="Waiting or being sent only.")
@click.option("--resend", "resend_id", type=int, metavar="DELIVERY_ID",
              help="Put a dead letter back in the queue.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@_json
@pass_ctx
def outbox(obj: Context, dead: bool, pending: bool, resend_id: int | None, limit: int,
           as_json: bool) -> None:
    """Deliveries: channel, state, attempts, next try, last error (newest last)."""
    from alerts.tables import DEAD, PENDING, SENDING

    book = _book(obj)
    if resend_id is not None:
        if not book.outbox.resend(resend_id):
            known = [d for d in book.outbox.deliveries() if d.id == resend_id]
            raise click.ClickException(
                f"delivery {resend_id} is {known[0].state}, not dead: nothing to resend" if known
                else f"no delivery {resend_id}; see monitor alerts outbox --dead")
        if as_json:
            echo_json({"resent": resend_id})
        else:
            click.echo(f"delivery {resend_id} queued again (attempts reset); "
                       "the service sends it on its next round")
        return
    states = ([DEAD] if dead else []) + ([PENDING, SENDING] if pending else [])
    found = [d for d in book.outbox.deliveries() if not states or d.state in states]
    shown = found[-limit:]
    if as_json:
        echo_json([_plain(asdict(d)) for d in shown])
        return
    waiting = (PENDING, SENDING)
    click.echo(table(["id", "channel", "state", "attempts", "next try", "held", "kind",
                      "alert"],
                     [[d.id, d.channel, d.state, d.attempts,
                       book.when(d.next_at) if d.state in waiting else "", d.held or "",
                       d.kind, d.alert_id] for d in shown],
                     [f"last error: {d.last_error}" if d.last_error else None for d in shown]))
    counts = book.outbox.counts()
    click.echo(f"{len(shown)} of {len(found)} shown; in all: "
               + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))


@alerts.command()
@click.argument("rule")
@click.option("--group", "group", multiple=True, callback=_groups, metavar="KEY=VALUE",
              help="Only this group (repeat for several keys); default every group.")
@click.option("--for", "seconds", required=True, callback=_duration, metavar="DURATION",
              help="How long: 30m, 2h, 1d (at most 90 days).")
@click.option("--reason", required=True, help="Why (required, recorded).")
@click.option("--by", "--as", "by", envvar=["MONITOR_USER", "USER"], metavar="NAME",
              help="Who (default: $MONITOR_USER, else $USER).")
@_json
@pass_ctx
def silence(obj: Context, rule: str, group: dict | None, seconds: float, reason: str,
            by: str | None, as_json: bool) -> None:
    """No new notices from RULE (or one of its groups) for a while."""
    book = _book(obj)
    try:
        sid = book.alerts.silence(rule, group, seconds=seconds, reason=reason, by=by)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    made = next((s for s in book.alerts.silences() if s["id"] == sid), None)
    if as_json:
        echo_json(_plain(made or {"id": sid}))
        return
    until = book.when(made["ends_at"]) if made else ""
    click.echo(f"silence {sid}: {rule}"
               + (f" [{', '.join(f'{k}={v}' for k, v in group.items())}]" if group else "")
               + f" until {until}")


@alerts.command()
@_json
@pass_ctx
def silences(obj: Context, as_json: bool) -> None:
    """The silences in force now."""
    book = _book(obj)
    found = book.alerts.silences()
    if as_json:
        echo_json([_plain(s) for s in found])
        return
    click.echo(table(["id", "rule", "group", "from", "until", "by", "reason"],
                     [[s["id"], s["rule"], _group_text(s["group_key"]) or "(all)",
                       book.when(s["starts_at"]), book.when(s["ends_at"]),
                       s["created_by"] or "", s["reason"]] for s in found]))


@alerts.command()
@click.argument("silence_id", type=int)
@_json
@pass_ctx
def unsilence(obj: Context, silence_id: int, as_json: bool) -> None:
    """End a silence now (held notices go at the service's next tick)."""
    book = _book(obj)
    if not book.alerts.unsilence(silence_id):
        raise click.ClickException(f"no silence {silence_id} in force; see monitor alerts "
                                   "silences")
    if as_json:
        echo_json({"ended": silence_id})
    else:
        click.echo(f"silence {silence_id} ended")
