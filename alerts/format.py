"""Chinese notice templates: markdown, plain text and HTML, shortened or split to a size limit.

Every channel renders the same :class:`Notice` — title, fields (规则、原因、数量、时间窗…), the
top documents with source, local time and link, a digest's parts, a link to the rest and the
alert id — so a notice reads the same on every channel.  :func:`fit` shortens a notice until a
channel's size check passes (shorter snippets, fewer documents, a link to the rest, then a hard
cut); :func:`split` cuts it into a few pieces instead where a channel prefers that.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from alerts.message import AlertDoc, AlertMessage
from monitor.documents import CHANNELS

#: Names shown for the group_by fields a rule can split on.
GROUP_LABELS = {"place": "地点", "source": "来源", "department": "部门", "event": "事件",
                "channel": "渠道", "query": "查询", "kind": "类型", "term": "词语",
                "author": "作者", "topic": "主题"}

ZONE_LABELS = {"Asia/Shanghai": "北京时间", "Asia/Chongqing": "北京时间", "PRC": "北京时间"}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")
_SPACES = re.compile(r"\s+")


def clean(text: object, *, one_line: bool = True) -> str:
    """Text safe to put in any payload: no lone surrogates, control characters or newlines."""
    value = "" if text is None else str(text)
    value = value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates → '?'
    value = _CONTROL.sub(" ", value)
    return _SPACES.sub(" ", value).strip() if one_line else value.strip()


def md_escape(text: str) -> str:
    """Neutralise markdown and tags in scraped text (a title must not become a link or an @)."""
    table = {"[": "［", "]": "］", "*": "＊", "`": "｀", "<": "＜", ">": "＞", "#": "＃",
             "|": "｜", "~": "～", "_": "＿"}
    return "".join(table.get(ch, ch) for ch in text)


def safe_url(url: str | None) -> str | None:
    """An http(s) URL usable inside a markdown link, or None (javascript:, empty, garbage)."""
    value = clean(url)
    if not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(value, safe=":/?#[]@!$&'*+,;=%~-._").replace("(", "%28").replace(")", "%29")


def zone_label(tz: str) -> str:
    """北京时间 for China's zone, otherwise the zone's name."""
    return ZONE_LABELS.get(tz, tz)


def local_time(value: datetime | None, tz: str, *, ref: datetime | None = None) -> str:
    """``2026-12-01 10:05`` in zone ``tz``; ``12-01 10:05`` when in the same year as ``ref``."""
    if value is None:
        return "时间不详"
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    zone = ZoneInfo(tz)
    local = value.astimezone(zone)
    if ref is not None and ref.astimezone(zone).year == local.year:
        return local.strftime("%m-%d %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def window_text(start: datetime, end: datetime, tz: str) -> str:
    """``2026-12-01 08:00 至 10:00（北京时间）``: the end shortened when on the same day."""
    zone = ZoneInfo(tz)
    a, b = start.astimezone(zone), end.astimezone(zone)
    tail = b.strftime("%H:%M") if a.date() == b.date() else local_time(end, tz, ref=start)
    return f"{local_time(start, tz)} 至 {tail}（{zone_label(tz)}）"


@dataclass
class RenderOptions:
    """How much of a message to show; :func:`fit` lowers these until the notice fits."""

    max_docs: int = 10
    snippet_chars: int = 120
    max_parts: int = 30
    max_field_chars: int = 500


@dataclass
class DocLine:
    title: str
    url: str | None
    meta: str
    snippet: str


@dataclass
class Notice:
    """A rendered-to-structure notice; the writers below turn it into markdown, text or HTML."""

    title: str
    fields: list[tuple[str, str]]
    docs: list[DocLine] = field(default_factory=list)
    more_docs: int = 0
    parts: list[str] = field(default_factory=list)
    more_parts: int = 0
    link: str | None = None
    alert_id: str = ""
    docs_heading: str = "主要文档"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def title_line(message: AlertMessage) -> str:
    """``【严重】标题`` for a firing alert, ``【已恢复·严重】标题`` for the other kinds."""
    tag = message.severity_label if message.kind == "firing" else (
        f"{message.kind_label}·{message.severity_label}")
    return f"【{tag}】{clean(message.title) or clean(message.rule_name) or '未命名告警'}"


def _doc_line(doc: AlertDoc, message: AlertMessage, opts: RenderOptions) -> DocLine:
    meta = [clean(doc.source), CHANNELS.get(doc.channel, clean(doc.channel)),
            local_time(doc.published_at, message.timezone, ref=message.fired_at)]
    if doc.risk is not None:
        meta.append(f"风险 {doc.risk:.2f}")
    snippet = _cut(clean(doc.snippet), opts.snippet_chars) if opts.snippet_chars > 0 else ""
    return DocLine(title=_cut(clean(doc.title), 120) or "（无标题）", url=safe_url(doc.url),
                   meta=" · ".join(m for m in meta if m), snippet=snippet)


def _part_line(part: AlertMessage, digest: AlertMessage) -> str:
    bits = [clean(part.rule_name) or clean(part.rule)]
    if part.count is not None:
        bits.append(f"{part.count} 篇")
    bits.append(local_time(part.fired_at, digest.timezone, ref=digest.fired_at))
    return f"{_cut(title_line(part), 80)} — {' · '.join(b for b in bits if b)}"


def build(message: AlertMessage, opts: RenderOptions | None = None) -> Notice:
    """The notice for ``message``, showing as much as ``opts`` allows."""
    opts = opts or RenderOptions()
    tz, lim = message.timezone, opts.max_field_chars
    fields: list[tuple[str, str]] = []
    rule = clean(message.rule_name)
    if message.kind == "digest":
        fields.append(("规则", _cut(rule, lim) or "多条规则"))
    elif message.rule:
        fields.append(("规则", _cut(f"{rule}（{clean(message.rule)}）" if rule else
                                    clean(message.rule), lim)))
    if clean(message.reason):
        fields.append(("原因", _cut(clean(message.reason), lim)))
    if message.count is not None:
        unit = "条" if message.kind == "digest" else "篇"
        fields.append(("数量", f"{message.count} {unit}"))
    if message.window:
        fields.append(("时间窗", window_text(*message.window, tz)))
    if message.group:
        fields.append(("分组", _cut("；".join(
            f"{GROUP_LABELS.get(k, clean(k))} {clean(v)}" for k, v in message.group.items()),
            lim)))
    when = {"firing": "触发时间", "resolved": "恢复时间"}.get(message.kind, "时间")
    fields.append((when, f"{local_time(message.fired_at, tz)}（{zone_label(tz)}）"))
    docs = message.documents[: max(opts.max_docs, 0)]
    parts = message.parts[: max(opts.max_parts, 0)]
    # count is how many documents matched; documents holds only the top ones
    matched = len(message.documents) if message.kind == "digest" else max(
        len(message.documents), message.count or 0)
    return Notice(
        title=_cut(title_line(message), 200), fields=fields,
        docs=[_doc_line(d, message, opts) for d in docs],
        more_docs=matched - len(docs) if docs or message.documents else 0,
        parts=[_part_line(p, message) for p in parts], more_parts=len(message.parts) - len(parts),
        link=safe_url(message.link), alert_id=clean(message.alert_id))


# -- writers ------------------------------------------------------------------------------------

def to_markdown(notice: Notice, *, heading: bool = True, newline: str = "\n") -> str:
    """Markdown of the subset DingTalk, WeCom and Feishu (lark_md) all render.

    ``heading=False`` leaves the title out (a Feishu card shows it in its header);
    ``newline="\\n\\n"`` for DingTalk, whose markdown joins single line breaks.
    """
    lines: list[str] = [f"### {md_escape(notice.title)}"] if heading else []
    lines += [f"**{label}**：{md_escape(value)}" for label, value in notice.fields]
    if notice.parts:
        lines.append("**告警列表**")
        lines += [f"{i}. {md_escape(p)}" for i, p in enumerate(notice.parts, 1)]
        if notice.more_parts:
            lines.append(_more(notice.more_parts, "条告警", notice.link, markdown=True))
    if notice.docs:
        lines.append(f"**{notice.docs_heading}**")
        for i, doc in enumerate(notice.docs, 1):
            title = md_escape(doc.title)
            shown = f"[{title}]({doc.url})" if doc.url else title
            lines.append(f"{i}. {shown} — {md_escape(doc.meta)}")
            if doc.snippet:
                lines.append(f"> {md_escape(doc.snippet)}")
    if notice.more_docs:
        lines.append(_more(notice.more_docs, "篇文档", notice.link, markdown=True))
    if notice.link:
        lines.append(f"[查看详情]({notice.link})")
    lines.append(f"告警编号：{md_escape(notice.alert_id)}")
    return newline.join(lines)


def to_text(notice: Notice) -> str:
    """Plain text (e-mail, log, WeCom text messages)."""
    lines = [notice.title] + [f"{label}：{value}" for label, value in notice.fields]
    if notice.parts:
        lines.append("告警列表：")
        lines += [f"{i}. {p}" for i, p in enumerate(notice.parts, 1)]
        if notice.more_parts:
            lines.append(_more(notice.more_parts, "条告警", notice.link, markdown=False))
    if notice.docs:
        lines.append(f"{notice.docs_heading}：")
        for i, doc in enumerate(notice.docs, 1):
            lines.append(f"{i}. {doc.title} — {doc.meta}")
            if doc.url:
                lines.append(f"   {doc.url}")
            if doc.snippet:
                lines.append(f"   {doc.snippet}")
    if notice.more_docs:
        lines.append(_more(notice.more_docs, "篇文档", notice.link, markdown=False))
    if notice.link:
        lines.append(f"详情：{notice.link}")
    lines.append(f"告警编号：{notice.alert_id}")
    return "\n".join(lines)


def to_html(notice: Notice) -> str:
    """A small self-contained HTML body (the e-mail's HTML alternative)."""
    e = html.escape
    rows = "".join(f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>"
                   for k, v in notice.fields)
    out = [f"<h3>{e(notice.title)}</h3>", f"<table>{rows}</table>"]
    if notice.parts:
        out.append("<p><b>告警列表</b></p><ol>" + "".join(
            f"<li>{e(p)}</li>" for p in notice.parts) + "</ol>")
    if notice.docs:
        items = []
        for doc in notice.docs:
            title = (f"<a href=\"{e(doc.url)}\">{e(doc.title)}</a>" if doc.url
                     else e(doc.title))
            snippet = f"<br><small>{e(doc.snippet)}</small>" if doc.snippet else ""
            items.append(f"<li>{title} — {e(doc.meta)}{snippet}</li>")
        out.append(f"<p><b>{e(notice.docs_heading)}</b></p><ol>{''.join(items)}</ol>")
    for count, what in ((notice.more_parts, "条告警"), (notice.more_docs, "篇文档")):
        if count:
            out.append(f"<p>另有 {count} {what}未列出。</p>")
    if notice.link:
        out.append(f"<p><a href=\"{e(notice.link)}\">查看详情</a></p>")
    out.append(f"<p><small>告警编号：{e(notice.alert_id)}</small></p>")
    return "<html><body>" + "".join(out) + "</body></html>"


def _more(count: int, what: str, link: str | None, *, markdown: bool) -> str:
    text = f"…另有 {count} {what}未列出"
    if link:
        return f"{text}，[查看全部]({link})" if markdown else f"{text}，查看全部：{link}"
    return text


# -- size limits --------------------------------------------------------------------------------

def utf8_len(text: str) -> int:
    """Length in UTF-8 bytes (WeCom and Feishu count bytes; a Chinese character is 3)."""
    return len(text.encode("utf-8"))


#: At most this many documents and digest parts are listed, whatever the room; the link shows all.
MAX_DOCS, MAX_PARTS = 10, 30


def _ladder(message: AlertMessage) -> list[RenderOptions]:
    docs, parts = min(len(message.documents), MAX_DOCS), min(len(message.parts), MAX_PARTS)
    steps = [RenderOptions(max_docs=docs, max_parts=parts, snippet_chars=n) for n in (120, 40, 0)]
    steps += [RenderOptions(max_docs=d, max_parts=parts, snippet_chars=0)
              for d in range(docs - 1, -1, -1)]
    steps += [RenderOptions(max_docs=0, max_parts=p, snippet_chars=0)
              for p in range(parts - 1, -1, -1)]
    steps.append(RenderOptions(max_docs=0, max_parts=0, snippet_chars=0, max_field_chars=60))
    return steps


def fit(message: AlertMessage, write: Callable[[Notice], str],
        fits: Callable[[str], bool]) -> str:
    """The fullest rendering of ``message`` for which ``fits(text)`` holds.

    Tries shorter snippets, then fewer documents and digest parts (each dropped item counted,
    with a link to the rest), then shorter fields; if even that is too long, the text is cut and
    ends with ``（内容过长，已截断）`` and the link.  ``fits`` usually measures the whole payload
    the channel will send, so envelopes are counted too.
    """
    text = ""
    for opts in _ladder(message):
        text = write(build(message, opts))
        if fits(text):
            return text
    link = safe_url(message.link)
    tail = f"\n（内容过长，已截断）{link or ''}\n告警编号：{clean(message.alert_id)}"
    low, high = 0, len(text)
    while low < high:  # longest prefix that fits together with the tail
        mid = (low + high + 1) // 2
        if fits(text[:mid] + tail):
            low = mid
        else:
            high = mid - 1
    return text[:low] + tail


def split(message: AlertMessage, write: Callable[[Notice], str], fits: Callable[[str], bool],
          *, max_pieces: int = 3, newline: str = "\n") -> list[str]:
    """The full notice cut at line boundaries into at most ``max_pieces`` pieces that fit.

    The first piece ends with ``【1/n，未完】`` and the alert id, each later one starts with
    ``【续 i/n】`` and the id, so a reader (and a receiver that drops repeats) can tell the pieces
    apart.  When the whole notice fits it is one
    piece; when it needs more than ``max_pieces``, the notice is shortened with :func:`fit`.
    """
    full = write(build(message, RenderOptions(max_docs=MAX_DOCS, max_parts=MAX_PARTS)))
    if fits(full):
        return [full]
    ident = clean(message.alert_id)
    # room kept in every piece for the longer of the two markers
    marker = f"【{max_pieces}/{max_pieces}，未完】告警编号 {ident}{newline}"
    pieces: list[str] = []
    current = ""
    lines: list[str] = []
    for line in full.split(newline):  # a snippet ("> …") stays with its document
        if line.startswith("> ") and lines:
            lines[-1] = f"{lines[-1]}{newline}{line}"
        else:
            lines.append(line)
    for line in lines:
        candidate = f"{current}{newline}{line}" if current else line
        if fits(marker + candidate):  # every piece keeps room for its marker
            current = candidate
            continue
        if not current or not fits(marker + line) or len(pieces) + 1 >= max_pieces:
            return [fit(message, write, fits)]
        pieces.append(current)
        current = line
    pieces.append(current)
    total = len(pieces)
    if total == 1:
        return pieces
    first = f"{pieces[0]}{newline}【1/{total}，未完】告警编号 {ident}"
    return [first] + [f"【续 {i}/{total}】告警编号 {ident}{newline}{p}"
                      for i, p in enumerate(pieces[1:], 2)]
