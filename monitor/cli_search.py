"""``monitor search``: full-text search with filters, paging, and hits shown for people."""
from __future__ import annotations

from typing import Iterable, Sequence

import click

from monitor.cli import Context, pass_ctx
from monitor.documents import CHANNELS, Document
from monitor.output import clip, echo_json, local_time, parse_when
from monitor.store import SORTS, SearchQuery, SearchResult
from monitor.store._fts import query_problem

#: How many hits one page shows and how deep paging goes, at most (the store allows more;
#: past these a person wants a narrower search, not another page).
MAX_LIMIT, MAX_OFFSET = 1_000, 1_000_000


def query_args(params: Iterable[click.Parameter], args: Sequence[str]) -> list[str]:
    """``args`` with the command's own options first and every other word after ``--``.

    click would read a query word such as ``-围墙`` (an exclusion) as an unknown option, or
    ``-hotel`` as ``-h``; only exact option names count as options here.  An unknown
    ``--long-option`` is still left to click, which names it and suggests the closest one, so
    that a typo (``--sicne 6h``) is an error rather than two words to search for.
    """
    takes_value: dict[str, bool] = {}
    for param in params:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                takes_value[name] = not (param.is_flag or param.count)
    options: list[str] = []
    words: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            words.extend(args[i + 1:])
            break
        name = arg.partition("=")[0] if arg.startswith("--") else arg
        if name in takes_value or (arg.startswith("--") and len(arg) > 2):
            options.append(arg)
            if takes_value.get(name) and "=" not in arg and i + 1 < len(args):
                i += 1
                options.append(args[i])
        else:
            words.append(arg)
        i += 1
    return [*options, "--", *words]


def _a_number(value: float | None, param: click.Parameter) -> float | None:
    """``value`` unless it is NaN (click's FloatRange lets NaN through: it compares false)."""
    if value is not None and value != value:
        raise click.BadParameter("nan is not a number from 0 to 1", param=param)
    return value


class QueryCommand(click.Command):
    """A command whose free words may start with ``-`` (see :func:`query_args`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, query_args(self.get_params(ctx), args))


@click.command(cls=QueryCommand)
@click.argument("query", nargs=-1)
@click.option("--since", help="Only newer than this: 7d, 6h, 30m, 2w or a date.")
@click.option("--until", help="Only older than this (same forms as --since).")
@click.option("--channel", "channels", multiple=True, type=click.Choice(list(CHANNELS)),
              help="Only this channel (repeatable).")
@click.option("--source", "sources", multiple=True, help="Only this source id (repeatable).")
@click.option("--place", "places", multiple=True, help="Only this place, e.g. 城关镇 (repeatable).")
@click.option("--department", "departments", multiple=True,
              help="Only this department, e.g. 教育局 (repeatable).")
@click.option("--unanswered", is_flag=True, help="Only messages still awaiting a reply.")
@click.option("--min-risk", type=click.FloatRange(0, 1), callback=lambda ctx, param, value:
              _a_number(value, param), help="Only risk at least this.")
@click.option("--negative", is_flag=True, help="Only negative sentiment (score < 0.35).")
@click.option("--sort", type=click.Choice(SORTS), default="relevance", show_default=True)
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=20, show_default=True,
              help=f"Hits per page (at most {MAX_LIMIT:,}).")
@click.option("--offset", type=click.IntRange(0, MAX_OFFSET), default=0, show_default=True,
              help="Skip this many hits (the next page starts at offset + limit; at most "
                   f"{MAX_OFFSET:,}: narrow the search with --since or --source instead).")
@click.option("--json", "as_json", is_flag=True, help="Print the hits (with their ids) as JSON.")
@pass_ctx
def search(obj: Context, query: tuple[str, ...], since, until, channels, sources, places,
           departments, unanswered, min_risk, negative, sort, limit, offset, as_json) -> None:
    """Full-text search of stored documents, e.g. monitor search 围墙 倒塌 --since 2d.

    QUERY: words (all must match), "quoted phrases", OR between two words, and -word or
    NOT word to leave out documents that contain it (monitor search 学校 -围墙).  Each hit
    shows its id; `monitor show ID` prints the whole document.
    """
    text = " ".join(query)
    problem = query_problem(text)
    if problem:
        raise click.ClickException(problem)
    tz = obj.config.timezone
    for source_id in sources:
        if source_id not in obj.config.sources:
            click.secho(f"note: {source_id!r} is not a configured source id (documents of a "
                        "removed source are still searched)", fg="yellow", err=True)
    q = SearchQuery(text=text, channels=list(channels), sources=list(sources), sort=sort,
                    places=list(places), departments=list(departments),
                    since=parse_when(since, tz=tz) if since else None,
                    until=parse_when(until, tz=tz) if until else None,
                    replied=False if unanswered else None, min_risk=min_risk,
                    max_sentiment=0.35 if negative else None, limit=limit, offset=offset,
                    kinds=["message"] if unanswered else [])
    result = obj.monitor.store.search(q)
    if as_json:
        echo_json({"total": result.total, "total_is_lower_bound": result.total_is_lower_bound,
                   "offset": offset, "limit": limit, "notes": list(result.notes),
                   "hits": [{**h.document.to_dict(), "score": h.score, "snippet": h.snippet}
                            for h in result.hits]})
        return
    click.echo(result_header(result, offset))
    for hit in result.hits:
        click.echo(render_hit(hit, tz))
    footer = result_footer(result, offset)
    if footer:
        click.echo("\n" + footer)


def total_text(result: SearchResult) -> str:
    """``312``, or ``at least 312`` when the store stopped counting early."""
    return f"at least {result.total}" if result.total_is_lower_bound else str(result.total)


def result_header(result: SearchResult, offset: int = 0) -> str:
    """``hits 21–40 of 312`` (or why there is nothing to show)."""
    if result.hits:
        return f"hits {offset + 1}–{offset + len(result.hits)} of {total_text(result)}"
    if result.total and offset:
        return (f"no hits from number {offset + 1} on: {total_text(result)} match "
                "(use a smaller --offset)")
    if result.total:
        return f"{total_text(result)} match, none shown"
    return "no documents match"


def result_footer(result: SearchResult, offset: int = 0) -> str:
    """The store's notes (e.g. the time limit was reached) and where the next page starts."""
    lines = [f"note: {note}" for note in result.notes]
    shown = offset + len(result.hits)
    if result.hits and (shown < result.total or result.total_is_lower_bound):
        lines.append(f"more: add --offset {shown}")
    return "\n".join(lines)


def doc_time(doc: Document, tz: str) -> str:
    """When ``doc`` was published (crawled if no date), local; the date alone if date-only."""
    value = doc.published_at or doc.crawled_at
    if doc.published_at and doc.extra.get("date_only"):
        return local_time(value, tz)[:10] + " (date only)"
    return local_time(value, tz)


def render_hit(hit, tz: str) -> str:
    """A search hit as a few readable lines, ending with the id for `monitor show`."""
    d = hit.document
    sentiment = d.sentiment
    facts = [CHANNELS.get(d.channel, d.channel), d.source, doc_time(d, tz)]
    if d.risk is not None:
        facts.append(f"风险 {d.risk:.2f}")
    if sentiment is not None:
        facts.append(f"情感 {sentiment:.2f}")
    if d.is_message:
        facts.append("已回复" if d.replied else "未回复")
    facts.append(f"id {d.id}")
    mark = "[withdrawn] " if d.withdrawn_at else ""
    lines = [f"\n● {mark}{clip(d.title or d.text, 70)}", "  " + " · ".join(facts),
             f"  {d.url}"]
    body = hit.snippet or d.text
    if body:
        lines.append("  " + clip(body, 110))
    if d.risk_reasons:
        lines.append("  原因: " + clip("；".join(d.risk_reasons), 100))
    return "\n".join(lines)
