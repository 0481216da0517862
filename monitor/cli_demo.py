"""``monitor demo``: the whole path on a bundled synthetic site, offline, in under a minute."""
from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import click

from monitor.cli import Context, crawl_table, pass_ctx
from monitor.cli_search import render_hit, total_text
from monitor.documents import CHANNELS
from monitor.output import clip, local_time, table
from monitor.store import SearchQuery

DEMO_QUERY = "围墙 倒塌"


@click.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the demo's site, configuration and data "
                   "(default: a new temporary folder, kept afterwards).")
@click.option("--seed", type=int, default=7, show_default=True, help="Varies the synthetic site.")
@click.option("--no-sentiment", is_flag=True, help="Skip the (slow) snownlp sentiment plugin.")
@click.option("--serve", is_flag=True,
              help="Keep the demo site running afterwards (Ctrl-C stops it), so that "
                   "`sources test` and `crawl` can be tried on it.")
@pass_ctx
def demo(obj: Context, directory: Path | None, seed: int, no_sentiment: bool,
         serve: bool) -> None:
    """Crawl, analyse, store and search a bundled synthetic county site, offline, and show
    the alerts its rules raise.

    The site (a county portal news list, a 县长信箱 with replied and unanswered letters, a
    city news RSS feed) is generated, served on 127.0.0.1 and crawled with the real spiders
    by one round of the service (`monitor run --once`), which stores what they collect and
    evaluates the rules of the starter configuration.
    """
    from monitor.config import load_config
    from monitor.demo.site import build_site
    from monitor.service import Service
    from monitor.demo.sources import demo_sources
    from monitor.localsite import serve_directory
    from monitor.starter import write_config

    root = (directory or Path(tempfile.mkdtemp(prefix="monitor-demo-"))).resolve()
    started = time.monotonic()
    info = build_site(root / "site", seed=seed)
    click.echo(f"Synthetic site written to {root / 'site'} ({info.news} news articles, "
               f"{info.messages} letters, {info.feed_items} feed items).")
    with serve_directory(root / "site", charset=None,
                         port=_previous_port(root / "config")) as base_url:
        sources = demo_sources(base_url)
        config_dir = root / "config"
        write_config(config_dir, sources=sources, force=True, extras=True,
              disabled=["sentiment_snownlp"] if no_sentiment else [])
        config = load_config(config_dir)
        # the demo prints the alerts itself: the log channel's lines would bury the output
        logging.getLogger("monitor.alerts").setLevel(logging.ERROR)
        service = Service(config)
        service.start()
        try:
            click.echo(f"Serving it on {base_url}; crawling {len(sources)} sources …\n")
            results = service.run_once()["results"]
            click.echo(crawl_table(sorted(results, key=lambda r: r.source)))
            found = summarise(service.monitor, config.timezone)
            show_alerts(service.alerts, config.timezone)
            show_story(service, config.timezone)
            click.echo(f"\nDone in {time.monotonic() - started:.0f}s. Everything is in {root}.")
            show = f"show {found.hits[0].document.id}" if found.hits else "store stats"
            click.echo("Try:\n"
                       f"  monitor -c {config_dir} search \"{DEMO_QUERY}\" --since 2d\n"
                       f"  monitor -c {config_dir} search 学校 -围墙\n"
                       f"  monitor -c {config_dir} {show}\n"
                       f"  monitor -c {config_dir} search --unanswered --channel mailbox\n"
                       f"  monitor -c {config_dir} alerts list\n"
                       f"  monitor -c {config_dir} rules test school-safety-match --since 3d\n"
                       f"  monitor -c {config_dir} store stats")
            if serve:
                click.echo(f"\nThe site stays up at {base_url} (Ctrl-C to stop); e.g.\n"
                           f"  monitor -c {config_dir} sources test county-mailbox")
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
        finally:
            service.stop()
    if any(r.status == "failed" for r in results):
        raise SystemExit(1)


def _previous_port(config_dir: Path) -> int:
    """The port an earlier demo in this folder used, if it is free again, else 0 (any).

    News documents are identified by their URL, so serving the site at the same address keeps
    a second demo run in the same folder from storing every article again.
    """
    import socket
    from urllib.parse import urlsplit

    from monitor.config import load_sources

    sources, _ = load_sources(config_dir) if (config_dir / "sources").is_dir() else ({}, [])
    port = next((urlsplit(s.url).port for s in sources.values() if urlsplit(s.url).port), 0)
    if port:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                click.secho(f"port {port} of the earlier demo run is busy; news articles will be "
                            "stored again under the new address", fg="yellow", err=True)
                return 0
    return port


def search_summary(result) -> str:
    """``6 hits, showing the top 3`` — the count and what is printed always agree."""
    if not result.total:
        return "no hits"
    hits = f"{total_text(result)} {'hit' if total_text(result) == '1' else 'hits'}"
    if len(result.hits) >= result.total and not result.total_is_lower_bound:
        return hits
    return f"{hits}, showing the top {len(result.hits)}"


def summarise(monitor, tz: str):
    """Print what a newcomer needs to see about the collected documents; return the example
    search's result."""
    store = monitor.store
    by_channel = store.count_by_field(None, "channel")
    click.echo("\n== Documents by channel ==")
    click.echo(table(["channel", "documents"],
                     [[f"{CHANNELS.get(k, k)} ({k})", v] for k, v in by_channel.items()]))

    click.echo("\n== Highest risk ==")
    for hit in store.search(SearchQuery(sort="risk", limit=5)).hits:
        click.echo(render_hit(hit, tz))

    negative = store.search(SearchQuery(sort="negative", limit=5, max_sentiment=0.35))
    if negative.total:
        click.echo(f"\n== Most negative ({negative.total} negative in all) ==")
        for hit in negative.hits:
            d = hit.document
            click.echo(f"  {d.sentiment:.2f}  {clip(d.title or d.text, 60)}  [{d.source}]")

    pending = store.search(SearchQuery(kinds=["message"], replied=False, sort="oldest", limit=5))
    click.echo(f"\n== Messages awaiting a reply: {pending.total} (oldest first) ==")
    for hit in pending.hits:
        d = hit.document
        click.echo(f"  {local_time(d.published_at, tz)}  {clip(d.title, 50)}  "
                   f"→ {d.department or '?'}")

    found = store.search(SearchQuery(text=DEMO_QUERY, limit=3))
    click.echo(f"\n== Search example: monitor search \"{DEMO_QUERY}\" → "
               f"{search_summary(found)} ==")
    for hit in found.hits:
        click.echo(render_hit(hit, tz))
    return found


def show_alerts(alerts, tz: str, limit: int = 5) -> None:
    """The open alerts, each with its reason and top documents (one alert per burst)."""
    from alerts.message import SEVERITIES, AlertMessage

    rank = {s: i for i, s in enumerate(SEVERITIES)}
    messages = [AlertMessage.from_dict(a.message) for a in alerts.list() if a.state != "resolved"]
    # the most severe first, then the biggest bursts
    messages.sort(key=lambda m: (-rank.get(m.severity, 0), -(m.count or 0), m.title))
    click.echo(f"\n== Alerts raised: {len(messages)} open (the rules in config/rules/) ==")
    for message in messages[:limit]:
        click.echo(f"  [{SEVERITIES.get(message.severity, message.severity)}] {message.title}"
                   f" — {message.reason}  ({message.alert_id})")
        for doc in message.documents[:3]:
            click.echo(f"      {local_time(doc.published_at, tz)}  {clip(doc.title, 50)}  "
                       f"[{doc.source}]")
    if len(messages) > limit:
        click.echo(f"  … and {len(messages) - limit} more: monitor alerts list")


def show_story(service, tz: str) -> None:
    """The school-wall alert as an incident at 重大, its clocks on a compressed clock, the
    portal's release detected and confirmed, the press conference; its timeline."""
    from datetime import datetime

    from monitor.demo.generate import TZ, collapse_time
    from monitor.demo.story import run_story, timeline_lines

    iid = run_story(service, collapse_time(datetime.now(TZ)))
    if iid is None:
        return
    click.echo(f"\n== The story as an incident: {iid} (重大; its day replayed on a compressed "
               "clock) ==")
    click.echo("\n".join(timeline_lines(service, iid, tz)))
