"""``monitor sources``: add, inspect, test and switch sources (one TOML file each)."""
from __future__ import annotations

import re
from pathlib import Path

import click

from monitor.cli import Context, ingest_note, pass_ctx
from monitor.config import (SELECTOR_KEYS, SOURCE_ID_RE, SPIDERS, SourceConfig, parse_source,
                            read_toml)
from monitor.documents import CHANNELS
from monitor.errors import ConfigError
from monitor.output import clip, echo_json, local_time, plural, table


@click.group()
def sources() -> None:
    """Add, list, test and switch collection sources."""


@sources.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_(obj: Context, as_json: bool) -> None:
    """Every source, and every source file that has an error."""
    config = obj.config
    if as_json:
        echo_json({"sources": [_source_dict(s) for s in config.sources.values()],
                   "errors": [str(e) for e in config.source_errors]})
        return
    rows = [[s.id, "on" if s.enabled else "off", s.spider, s.channel, "yes" if s.own else "",
             s.cron or f"{s.interval_minutes}m", clip(s.name, 30), clip(s.url, 50)]
            for s in config.sources.values()]
    click.echo(table(["id", "enabled", "spider", "channel", "own", "every", "name", "url"], rows))
    for err in config.source_errors:
        click.secho(f"error: {err}", fg="red", err=True)


def _source_dict(source: SourceConfig) -> dict:
    data = dict(source.__dict__)
    data["path"] = str(source.path) if source.path else None
    return data


@sources.command()
@click.argument("source_id")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(obj: Context, source_id: str, as_json: bool) -> None:
    """One source's settings and its file (a file with an error is shown with the error)."""
    broken = _broken_file(obj, source_id)
    if broken is not None:
        text = _file_text(broken.path)
        if text is not None:
            click.echo(f"# {broken.path}\n{text}")
        raise click.ClickException(str(broken.error))
    source = obj.config.source(source_id)
    if as_json:
        echo_json(_source_dict(source))
        return
    click.echo(f"# {source.path}")
    text = _file_text(source.path) if source.path else source.to_toml()
    if text is None:
        raise click.ClickException(f"{source.path} is no longer a regular file")
    click.echo(text)


#: How much of a source file ``sources show`` prints (a real one is a few hundred bytes).
SHOW_CHARS = 100_000


def _file_text(path: Path) -> str | None:
    """A source file's text to show, or None when it is not a regular file (reading a named
    pipe blocks for ever, a device never ends: the loader refuses those too)."""
    try:
        if not path.is_file():
            return None
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(SHOW_CHARS + 1)
    except OSError:
        return None
    if len(text) > SHOW_CHARS:
        text = text[:SHOW_CHARS] + f"\n… (cut: only the first {SHOW_CHARS:,} characters shown)"
    return text


@sources.command()
@click.argument("source_id")
@click.option("--spider", type=click.Choice(SPIDERS), required=True)
@click.option("--channel", type=click.Choice(list(CHANNELS)), required=True)
@click.option("--url", required=True, help="The list page or feed address.")
@click.option("--name", default="", help="A name people recognise, e.g. 县长信箱.")
@click.option("--own", is_flag=True, help="One of the office's own channels.")
@click.option("--max-pages", type=click.IntRange(0), default=3, show_default=True)
@click.option("--page-url", default="", help="Template for list pages 2.., with {page}.")
@click.option("--selector", "selectors", multiple=True, metavar="NAME=SELECTOR",
              help="A selector, e.g. title=h1 (repeatable; see docs/sources.md).")
@click.option("--disabled", is_flag=True, help="Add it switched off.")
@pass_ctx
def add(obj: Context, source_id, spider, channel, url, name, own, max_pages, page_url,
        selectors, disabled) -> None:
    """Add a source file config/sources/SOURCE_ID.toml."""
    if not SOURCE_ID_RE.match(source_id):
        raise click.BadParameter(f"{source_id!r}: use lower-case letters, digits, '-' and '_' "
                                 "(e.g. county-mailbox)", param_hint="SOURCE_ID")
    path = obj.config_dir / "sources" / f"{source_id}.toml"
    if not (obj.config_dir / "monitor.toml").exists():
        raise click.ClickException(f"{obj.config_dir} has no monitor.toml; run `monitor init`")
    if path.exists():
        raise click.ClickException(f"{path} already exists; edit it or remove the source first")
    parsed = {}
    for item in selectors:
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise click.BadParameter(f"{item!r}: expected NAME=SELECTOR", param_hint="--selector")
        if key not in SELECTOR_KEYS[spider]:
            raise click.BadParameter(f"{key!r} is not a {spider} selector; known: "
                                     f"{', '.join(sorted(SELECTOR_KEYS[spider]))}",
                                     param_hint="--selector")
        parsed[key] = value
    source = SourceConfig(id=source_id, spider=spider, channel=channel, url=url, name=name,
                          own=own, max_pages=max_pages, page_url=page_url, selectors=parsed,
                          enabled=not disabled)
    text = source.to_toml()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    try:  # the file must read back exactly as the CLI meant it
        parse_source(read_toml(path), path)
    except ConfigError as exc:
        path.unlink()
        raise click.ClickException(str(exc)) from exc
    click.echo(f"added {source_id}: {path}\nTry it: monitor sources test {source_id}")


@sources.command()
@click.argument("source_id")
@click.option("--yes", is_flag=True, help="Do not ask.")
@pass_ctx
def remove(obj: Context, source_id: str, yes: bool) -> None:
    """Delete a source file (stored documents stay); works on a file with errors too."""
    broken = _broken_file(obj, source_id)
    path = broken.path if broken is not None else Path(obj.config.source(source_id).path)
    if not yes:
        click.confirm(f"delete {path}?", abort=True)
    path.unlink()
    click.echo(f"removed {source_id}; its documents stay in the store")


class _Broken:
    """A source file that did not load, and why."""

    def __init__(self, path: Path, error: Exception):
        self.path, self.error = path, error


def _broken_file(obj: Context, source_id: str) -> _Broken | None:
    """The source file for ``source_id`` when it exists but has an error."""
    for err in obj.config.source_errors:
        if err.path and Path(err.path).stem == source_id and source_id not in obj.config.sources:
            return _Broken(Path(err.path), err)
    return None


def _set_enabled(obj: Context, source_id: str, enabled: bool) -> None:
    source = obj.config.source(source_id)
    path = Path(source.path)
    text = path.read_text(encoding="utf-8")
    head, sep, tables = text.partition("\n[")
    value = "true" if enabled else "false"
    if re.search(r"(?m)^enabled\s*=.*$", head):
        head = re.sub(r"(?m)^enabled\s*=.*$", f"enabled = {value}", head, count=1)
    else:
        head = head.rstrip("\n") + f"\nenabled = {value}\n"
    path.write_text(head + sep + tables, encoding="utf-8")
    parse_source(read_toml(path), path)
    click.echo(f"{source_id} {'enabled' if enabled else 'disabled'}")


@sources.command()
@click.argument("source_id")
@pass_ctx
def enable(obj: Context, source_id: str) -> None:
    """Switch a source on."""
    _set_enabled(obj, source_id, True)


@sources.command()
@click.argument("source_id")
@pass_ctx
def disable(obj: Context, source_id: str) -> None:
    """Switch a source off (it keeps its file and documents)."""
    _set_enabled(obj, source_id, False)


@sources.command("test")
@click.argument("source_id")
@click.option("--limit", type=click.IntRange(1, 200), default=5, show_default=True,
              help="Items to fetch.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def test_(obj: Context, source_id: str, limit: int, as_json: bool) -> None:
    """Fetch a few items and print what would be collected, storing nothing."""
    from monitor.crawl import run_crawl

    config = obj.config
    source = config.source(source_id)
    result = run_crawl(config, source_id, dry_run=True, limit=limit)
    if as_json:
        echo_json(result.to_dict())
    else:
        _print_test(result, source, config.timezone)
    if result.status == "failed" or not result.items:
        raise SystemExit(1)


def _print_test(result, source: SourceConfig, tz: str) -> None:
    report = result.report
    click.echo(f"{source.id}: {report.get('pages', 0)} page(s), {len(result.items)} item(s), "
               f"{report.get('errors', 0)} error(s) in {result.seconds:.1f}s")
    for doc in result.items:
        click.echo(f"\n● {clip(doc.title, 80) or '(no title)'}")
        click.echo(f"  time: {local_time(doc.published_at, tz) or '(none found)'}   {doc.url}")
        if doc.author:
            click.echo(f"  author: {doc.author}")
        if doc.department:
            click.echo(f"  unit asked: {doc.department}")
        click.echo(f"  text: {clip(doc.text, 100) or '(empty)'}")
        if doc.is_message:
            if doc.reply:
                click.echo(f"  reply: {doc.reply.unit or '?'} "
                           f"{local_time(doc.reply.replied_at, tz)}: {clip(doc.reply.text, 80)}")
            else:
                click.echo(f"  reply: none ({doc.status})")
    misses = report.get("selector_misses") or {}
    for name, count in sorted(misses.items()):
        selector = source.selectors.get(name, "(default)")
        click.secho(f"selector {name} = {selector!r} found nothing on {count} page(s)",
                    fg="yellow")
    for url in report.get("unreachable") or []:
        click.secho(f"unreachable: {url}", fg="red")
    for warning, count in sorted((report.get("warnings") or {}).items()):
        click.echo(f"warning: {warning} ×{count}")
    if result.message:
        click.secho(result.message, fg="red" if result.status == "failed" else None)


@sources.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(obj: Context, as_json: bool) -> None:
    """Last crawl of each source, and sources that keep coming back empty or failing.

    Why a source failed is printed whole on a line under its row, and so is what its last run
    kept aside (versions with less content than stored) or found withdrawn (taken down).
    """
    config, state = obj.config, obj.monitor.state
    health = [state.health(s) for s in config.sources]
    if as_json:
        echo_json([_health_dict(state, h) for h in health])
        return
    rows, notes = [], []
    tz = config.timezone
    for h in health:
        last = h.last_run
        note, why = "", []
        if h.consecutive_empty >= 3:
            note = f"empty {h.consecutive_empty} runs in a row: check its url and selectors"
        elif h.consecutive_failed >= 1:
            note = f"failed {plural(h.consecutive_failed, 'run')} in a row"
            why.append(f"why: {_failure(state, h).message or '(no message recorded)'}")
        elif h.runs_without_new >= 3:
            note = f"nothing new for {h.runs_without_new} runs"
        kept_aside, withdrawn = _kept_and_withdrawn(last)
        if kept_aside or withdrawn:
            why.append("last run: " + ingest_note({"kept_aside": kept_aside,
                                                   "withdrawn": withdrawn}))
        rows.append([h.source, h.runs, last.status if last else "never",
                     local_time(last.started_at, tz) if last else "", last.items if last else "",
                     local_time(h.last_success, tz), local_time(h.newest_published_at, tz),
                     note])
        notes.append(why)
    click.echo(table(["source", "runs", "last", "when", "items", "last success", "newest item",
                      "note"], rows, notes))


def _failure(state, health):
    """The most recent failed run of a source (its last run when none of the recent failed)."""
    return next((r for r in state.runs(health.source, limit=5) if r.status == "failed"),
                health.last_run)


def _kept_and_withdrawn(run) -> tuple[int | None, int | None]:
    """``kept_aside`` and ``withdrawn`` of a run's ingest report (None in older reports)."""
    ingest = ((run.report or {}).get("ingest") or {}) if run else {}
    return ingest.get("kept_aside"), ingest.get("withdrawn")


def _health_dict(state, h) -> dict:
    last = h.last_run
    kept_aside, withdrawn = _kept_and_withdrawn(last)
    failed = _failure(state, h) if h.consecutive_failed else None
    return {"source": h.source, "runs": h.runs,
            "last_status": last.status if last else None,
            "last_run": last.started_at if last else None,
            "last_message": last.message if last else None,
            "last_failure": failed.message if failed else None,
            "last_success": h.last_success, "consecutive_empty": h.consecutive_empty,
            "consecutive_failed": h.consecutive_failed,
            "runs_without_new": h.runs_without_new,
            "newest_published_at": h.newest_published_at,
            "last_new_at": h.last_new_at, "kept_aside": kept_aside, "withdrawn": withdrawn}
