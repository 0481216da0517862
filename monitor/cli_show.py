"""``monitor show ID``: one stored document in full, every field."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from monitor.cli import Context, pass_ctx
from monitor.documents import CHANNELS, Document
from monitor.output import clip, display_width, echo_json, in_zone, local_time

#: How to find an id, said whenever one is not found.
FIND_IDS = ("every hit of `monitor search` ends with its id, and `monitor search --json` "
            "gives it as \"id\"")


@click.command("show")
@click.argument("doc_id")
@click.option("--json", "as_json", is_flag=True, help="Print the stored document as JSON.")
@pass_ctx
def show(obj: Context, doc_id: str, as_json: bool) -> None:
    """One document in full: every field, the whole text and the whole official reply.

    DOC_ID is the document's id (exact, 20 characters) as `monitor search` prints it.
    """
    wanted = doc_id.strip()
    doc = obj.monitor.store.get(wanted) if wanted else None
    if doc is None:
        raise click.ClickException(f"no document has the id {doc_id!r}; {FIND_IDS} "
                                   "(ids are exact: copy all 20 characters)")
    if as_json:
        echo_json(doc.to_dict())
        return
    click.echo(render_document(doc, obj.config.timezone))


def both_times(value: datetime | None, tz: str) -> str:
    """``2026-12-01 10:20 Asia/Shanghai (02:20 UTC)``-style: the office zone and UTC."""
    if value is None:
        return ""
    if in_zone(value, tz) is None:  # 9999-12-31 23:59 UTC is past the last day in UTC+8
        return f"{local_time(value, 'UTC')} UTC (not showable in {tz})"
    return f"{local_time(value, tz)} {tz} · {local_time(value, 'UTC')} UTC"


def _published(doc: Document, tz: str) -> str:
    if doc.published_at is None:
        return "(no date on the page; crawled " + both_times(doc.crawled_at, tz) + ")"
    if doc.extra.get("date_only"):
        return (f"{local_time(doc.published_at, tz)[:10]} (date only, time unknown; "
                f"stored as {local_time(doc.published_at, 'UTC')} UTC)")
    return both_times(doc.published_at, tz)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _count(value: Any) -> str:
    """An engagement value as stored, cut to 30 columns (a page may give 10**400 or a word)."""
    try:
        return clip(_compact(value), 30)
    except ValueError:  # an int past 4,300 digits cannot even be printed
        return "(a number too long to show)"


def _sentiment(doc: Document) -> str:
    score = doc.sentiment
    if score is None:
        return ""
    value = doc.analysis.get("sentiment")
    label = value.get("label") if isinstance(value, dict) else None
    return f"{score:.2f}" + (f" ({label})" if label else "") + "  (0 = negative, 1 = positive)"


def render_document(doc: Document, tz: str) -> str:
    """Every field of ``doc`` for people: facts, then the full text and the full reply."""
    lines = [doc.title or "(no title)"]
    if doc.withdrawn_at:
        lines.append(click.style(
            f"!! 已删除 / withdrawn since {both_times(doc.withdrawn_at, tz)}: a later crawl "
            "found the page gone; this is the last copy collected", fg="red", bold=True))
    channel = CHANNELS.get(doc.channel, doc.channel)
    facts: list[tuple[str, str]] = [
        ("id", doc.id),
        ("source", doc.source),
        ("channel", f"{doc.channel} ({channel})"),
        ("kind", doc.kind),
        ("url", doc.url),
        ("author", doc.author or ""),
        ("published", _published(doc, tz)),
        ("crawled", both_times(doc.crawled_at, tz)),
        ("place", doc.place or ""),
        ("department", doc.department or ""),
        ("status", doc.status or ""),
        ("信件编号 (platform id)", doc.platform_id or ""),
        ("own channel", "yes" if doc.own else "no"),
        ("risk", "" if doc.risk is None else f"{doc.risk:.2f}"),
        ("sentiment", _sentiment(doc)),
        ("engagement", ", ".join(f"{clip(str(k), 30)} {_count(v)}"
                                 for k, v in doc.engagement.items())),
    ]
    width = max(display_width(label) for label, _ in facts)
    lines.extend(label + " " * (width - display_width(label) + 2) + value
                 for label, value in facts if value)
    for reason in doc.risk_reasons:
        lines.append(" " * (width + 2) + f"风险原因: {reason}")
    if doc.analysis:
        lines.append("analysis:")
        lines.extend(f"  {key}: {_compact(value)}" for key, value in doc.analysis.items())
    extra = {k: v for k, v in doc.extra.items() if k != "date_only"}
    if extra:
        lines.append("extra:")
        lines.extend(f"  {key}: {_compact(value)}" for key, value in extra.items())
    lines.append("\n── text ──")
    lines.append(doc.text or "(empty)")
    if doc.reply is not None:
        about = " · ".join(p for p in (doc.reply.unit, both_times(doc.reply.replied_at, tz)) if p)
        lines.append(f"\n── reply{' · ' + about if about else ''} ──")
        lines.append(doc.reply.text or "(empty)")
    elif doc.is_message:
        lines.append("\n── reply ──\n(none collected yet: awaiting a reply)")
    return "\n".join(lines)
