"""The ``monitor`` command line: subgroups by noun (sources, crawl, search, show, plugins, store,
demo)."""
from __future__ import annotations

import logging
from pathlib import Path

import click

from monitor import __version__
from monitor.config import ENV_CONFIG_DIR, MonitorConfig, load_config, resolve_config_dir
from monitor.errors import MonitorError
from monitor.output import echo_json, table


class Context:
    """Lazily loaded configuration and monitor for the subcommands."""

    def __init__(self, config_dir: str | None, verbose: int):
        self.config_dir = resolve_config_dir(config_dir)
        self.verbose = verbose
        self._config: MonitorConfig | None = None
        self._monitor = None

    @property
    def config(self) -> MonitorConfig:
        if self._config is None:
            self._config = load_config(self.config_dir)
        return self._config

    @property
    def monitor(self):
        if self._monitor is None:
            from monitor.app import Monitor

            self._monitor = Monitor(self.config)
        return self._monitor

    def close(self) -> None:
        if self._monitor is not None:
            self._monitor.close()
            self._monitor = None


class MonitorGroup(click.Group):
    """The root group: any MonitorError from any subcommand becomes a one-line error.

    User mistakes (a bad file, an unknown source, a store that cannot be opened) then read as
    ``Error: <what to fix>`` with exit status 1, never as a traceback.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MonitorError as exc:
            raise click.ClickException(str(exc)) from exc


pass_ctx = click.make_pass_decorator(Context)


@click.group(cls=MonitorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config-dir", "-c", envvar=ENV_CONFIG_DIR, metavar="DIR",
              help=f"Configuration directory (default ./config, or ${ENV_CONFIG_DIR}).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="monitor")
@click.pass_context
def cli(ctx: click.Context, config_dir: str | None, verbose: int) -> None:
    """Public-opinion (舆情) monitoring for government offices.

    Collects news, posts and 信箱 / 留言板 / 12345 messages with their official replies,
    analyses them with plugins, stores them, and lets analysts search them.
    """
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(config_dir, verbose)
    ctx.call_on_close(ctx.obj.close)


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite existing starter files.")
@pass_ctx
def init(obj: Context, directory: Path | None, force: bool) -> None:
    """Write a working starter configuration into DIRECTORY (default: the config dir)."""
    from monitor.starter import write_config

    target = (directory or obj.config_dir).resolve()
    written = write_config(target, force=force)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"\nNext: edit {target / 'sources'}, then `monitor -c {target} sources test ID`;\n"
               f"set the alert channels in {target / 'channels.toml'} and the people in "
               f"{target / 'org.toml'}, check with `monitor -c {target} rules check`, and start "
               f"`monitor -c {target} run`.")


@cli.command()
@click.argument("sources", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Crawl every enabled source.")
@click.option("--json", "as_json", is_flag=True, help="Print the crawl reports as JSON.")
@pass_ctx
def crawl(obj: Context, sources: tuple[str, ...], all_: bool, as_json: bool) -> None:
    """Collect, analyse and store documents from SOURCES (ids) or --all."""
    from monitor.crawl import run_crawls

    config = obj.config
    if all_:
        ids = [s.id for s in config.sources.values() if s.enabled]
        for err in config.source_errors:  # never skip a broken source without saying so
            click.secho(f"not crawled: {err}", fg="red", err=True)
        if not ids:
            disabled = sum(1 for s in config.sources.values() if not s.enabled)
            raise click.ClickException(
                f"no enabled sources ({disabled} disabled, {len(config.source_errors)} with "
                "errors); `monitor sources enable ID` switches one on")
    else:
        ids = list(sources)
    if not ids:
        raise click.UsageError("name one or more source ids, or use --all "
                               "(`monitor sources list` shows them)")
    for source_id in ids:
        config.source(source_id)
    results = run_crawls(config, ids, monitor=obj.monitor)
    if as_json:
        echo_json([r.to_dict() for r in results])
    else:
        click.echo(crawl_table(results))
    if any(r.status == "failed" for r in results) or (all_ and config.source_errors):
        raise SystemExit(1)


def crawl_table(results) -> str:
    """Crawl results as a table for people, each crawl's note whole on a line under its row."""
    rows, notes = [], []
    for r in results:
        ingest = r.report.get("ingest") or {}
        rows.append([r.source, r.status, r.report.get("pages", 0), r.report.get("items", 0),
                     ingest.get("inserted", 0), ingest.get("updated", 0),
                     ingest.get("unchanged", 0),
                     ingest.get("skipped", 0) + r.report.get("skipped", 0),
                     r.report.get("errors", 0), f"{r.seconds:.1f}s"])
        notes.append([r.message, ingest_note(ingest)])
    return table(["source", "status", "pages", "items", "new", "updated", "same", "skipped",
                  "errors", "time"], rows, notes)


def ingest_note(ingest: dict) -> str:
    """What a run kept aside and found withdrawn (keys of newer reports; empty if none)."""
    parts = []
    kept, gone = int(ingest.get("kept_aside") or 0), int(ingest.get("withdrawn") or 0)
    if kept:
        parts.append(f"{kept} kept aside (would have replaced stored content with less)")
    if gone:
        parts.append(f"{gone} withdrawn (found taken down; kept, marked withdrawn)")
    return "; ".join(parts)


@cli.group()
def plugins() -> None:
    """Analysis and backend plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def plugins_list(obj: Context, as_json: bool) -> None:
    """Show loaded and disabled plugins, where they come from and the hooks they implement."""
    rows = obj.monitor.plugins.info()
    if as_json:
        echo_json([r.__dict__ for r in rows])
        return
    click.echo(table(["name", "status", "origin", "module", "hooks"],
                     [[r.name, "enabled" if r.enabled else "disabled", r.origin, r.module,
                       ", ".join(r.hooks)] for r in rows]))


def _register_subcommands() -> None:
    from monitor.cli_alerts import alerts
    from monitor.cli_audit import audit
    from monitor.cli_demo import demo
    from monitor.cli_incidents import incidents
    from monitor.cli_rules import rules
    from monitor.cli_run import run, status
    from monitor.cli_search import search
    from monitor.cli_show import show
    from monitor.cli_sources import sources
    from monitor.cli_store import store

    cli.add_command(search)
    cli.add_command(show)
    cli.add_command(sources)
    cli.add_command(store)
    cli.add_command(demo)
    cli.add_command(rules)
    cli.add_command(alerts)
    cli.add_command(run)
    cli.add_command(status)
    cli.add_command(incidents)
    cli.add_command(audit)


_register_subcommands()
