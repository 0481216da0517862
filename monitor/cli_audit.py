"""``monitor audit``: the append-only, hash-chained audit trail (issue 8; docs/audit.md).

Read-only: ``verify`` walks the chain, ``export`` writes it out for safekeeping or inspection,
``list`` shows it to people.  Times for people are in the office's zone (``[monitor]
timezone``); exports also keep ``at`` in UTC as it is hashed, so an export can be re-verified.
"""
from __future__ import annotations

import csv
import io
import json
import sys

import click

from monitor.cli import Context, pass_ctx
from monitor.output import clip, echo_json, local_time, parse_when, table

CSV_FIELDS = ["id", "at", "at_local", "actor", "action", "target", "refused", "reason",
              "before", "after", "prev_hash", "hash"]


def _engine(obj: Context):
    from monitor import audit  # registers the tables before StateDB creates what is missing
    from monitor.state import StateDB

    engine = StateDB(obj.config.state_url).engine
    audit.ensure(engine)
    return engine


def _when(obj: Context, value: str | None):
    return parse_when(value, tz=obj.config.timezone) if value else None


@click.group()
def audit() -> None:
    """The audit trail: verify that no row was edited or deleted, export it."""


@audit.command("verify")
@click.option("--head", "known", multiple=True, metavar="HASH",
              help="A head hash kept elsewhere earlier (e.g. from a monthly report); it must "
                   "still be in the chain.  Repeatable.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def verify_(obj: Context, known: tuple[str, ...], as_json: bool) -> None:
    """Check the hash chain; print each problem with its row id and exit 1 if there is any."""
    from monitor import audit as trail

    engine = _engine(obj)
    problems = trail.verify(engine, known=known)
    top = trail.head(engine)
    rows, last_id, last_hash = top if top else (0, 0, trail.GENESIS)
    if as_json:
        echo_json({"ok": not problems, "rows": rows, "last_id": last_id, "head": last_hash,
                   "problems": [p.__dict__ for p in problems]})
    elif problems:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} "
                   "in the audit trail", err=True)
    else:
        click.echo(f"ok: {rows} rows, chain intact")
        click.echo(f"head: row {last_id}, sha256 {last_hash}")
    if problems:
        sys.exit(1)


def _export_row(entry, tz: str) -> dict:
    data = entry.as_dict()
    data["at_local"] = local_time(entry.at, tz)
    return data


@audit.command("export")
@click.option("--since", help="From this time: 30d, 2026-11-01, 2026-11-01T09:00 (office zone).")
@click.option("--until", help="Before this time (same forms).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of the terminal.")
@pass_ctx
def export(obj: Context, since: str | None, until: str | None, fmt: str,
           output: str | None) -> None:
    """Write the trail (oldest first) as JSON lines or CSV, with each row's hashes."""
    from monitor import audit as trail

    tz = obj.config.timezone
    start, end = _when(obj, since), _when(obj, until)
    if start and end and end <= start:
        raise click.BadParameter("--until must be after --since", param_hint="--until")
    engine = _engine(obj)
    buffer = io.StringIO()
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
    for entry in trail.entries(engine, since=start, until=end):
        data = _export_row(entry, tz)
        if fmt == "csv":
            writer.writerow({**data, "refused": "yes" if entry.refused else "no",
                             "before": _json_cell(entry.before),
                             "after": _json_cell(entry.after)})
        else:
            buffer.write(json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    if output is None:
        click.echo(buffer.getvalue(), nl=False)
        return
    # CSV with a byte-order mark, so that Excel in a Chinese locale reads it as UTF-8
    with open(output, "w", encoding="utf-8-sig" if fmt == "csv" else "utf-8",
              newline="") as fh:
        fh.write(buffer.getvalue())
    top = trail.head(engine)
    click.echo(f"wrote {count} rows to {output}"
               + (f" (head: row {top[1]}, sha256 {top[2]})" if top else ""), err=True)


def _json_cell(value) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


@audit.command("list")
@click.option("--actor", help="Only what this person did.")
@click.option("--action", help="Only this action (e.g. incident.set_level).")
@click.option("--refused", "only_refused", is_flag=True, help="Only refused attempts.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_(obj: Context, actor: str | None, action: str | None, only_refused: bool, limit: int,
          as_json: bool) -> None:
    """The latest rows of the trail, newest first."""
    from monitor import audit as trail

    tz = obj.config.timezone
    engine = _engine(obj)
    found = trail.entries(engine, actor=actor, action=action, refused=True if only_refused
                          else None, limit=limit, newest_first=True)
    rows = list(found)
    if as_json:
        echo_json([_export_row(e, tz) for e in rows])
        return
    if not rows:
        click.echo("no audit rows" + (" match" if actor or action or only_refused else " yet"))
        return
    click.echo(table(
        ["id", "time", "actor", "action", "target", "result", "change"],
        [[e.id, local_time(e.at, tz), e.actor, e.action, clip(e.target, 30),
          "refused" if e.refused else "done", clip(_change(e), 40)] for e in rows],
        notes=[f"reason: {e.reason}" if e.reason else None for e in rows]))


def _change(entry) -> str:
    """``level: 较大 → 重大`` for the keys that differ between before and after."""
    before, after = entry.before, entry.after
    if isinstance(before, dict) and isinstance(after, dict):
        keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
        return "; ".join(f"{k}: {_short(before.get(k))} → {_short(after.get(k))}"
                         for k in keys)
    if before is None and after is None:
        return ""
    return f"{_short(before)} → {_short(after)}"


def _short(value) -> str:
    if value is None:
        return "–"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
