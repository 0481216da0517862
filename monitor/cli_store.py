"""``monitor store``: what is in the document store."""
from __future__ import annotations

import click

from monitor.cli import Context, pass_ctx
from monitor.documents import CHANNELS
from monitor.output import echo_json, table
from monitor.store import SearchQuery


@click.group()
def store() -> None:
    """Inspect the document store."""


def collect_stats(monitor, days: int = 14) -> dict:
    """Totals by channel, source, sentiment and day, and unanswered messages."""
    from datetime import datetime, timedelta, timezone

    st = monitor.store
    since = datetime.now(timezone.utc) - timedelta(days=days)
    return {
        "total": st.count(None),
        "by_channel": st.count_by_field(None, "channel"),
        "by_source": st.count_by_field(None, "source"),
        "by_sentiment": st.count_by_field(None, "sentiment_label"),
        "unanswered": st.count(SearchQuery(kinds=["message"], replied=False)),
        "per_day": st.count_by_time(SearchQuery(since=since), "day",
                                    monitor.config.timezone),
    }


@store.command()
@click.option("--days", type=click.IntRange(1, 366), default=14, show_default=True,
              help="Days in the per-day histogram.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def stats(obj: Context, days: int, as_json: bool) -> None:
    """Documents by channel, source, sentiment and day."""
    data = collect_stats(obj.monitor, days)
    if as_json:
        echo_json(data)
        return
    click.echo(f"{data['total']} document(s); {data['unanswered']} message(s) awaiting a reply\n")
    click.echo(table(["channel", "documents"],
                     [[f"{CHANNELS.get(k, k)} ({k})", v] for k, v in data["by_channel"].items()]))
    click.echo()
    click.echo(table(["source", "documents"], data["by_source"].items()))
    click.echo()
    click.echo(table(["sentiment", "documents"],
                     [[k or "(not analysed)", v] for k, v in data["by_sentiment"].items()]))
    if data["per_day"]:
        click.echo()
        peak = max(n for _, n in data["per_day"]) or 1
        click.echo(table(["day", "documents", ""],
                         [[day, n, "█" * max(1, round(30 * n / peak))]
                          for day, n in data["per_day"]]))


@store.command("rebuild-index")
@pass_ctx
def rebuild_index(obj: Context) -> None:
    """Re-segment every document into a fresh full-text index (after a jieba upgrade)."""
    rebuild = getattr(obj.monitor.store, "rebuild_index", None)
    if rebuild is None:
        raise click.ClickException(f"the {obj.config.store.backend!r} store has no index to rebuild")
    click.echo(f"re-indexed {rebuild()} document(s)")
