"""Output for people (aligned tables, local times) and for scripts (JSON)."""
from __future__ import annotations

import json
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

import click


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: CJK characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def clip(text: str, width: int) -> str:
    """Cut ``text`` to at most ``width`` columns, marking the cut with …"""
    text = " ".join((text or "").split())
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = display_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
          notes: Sequence[str | Sequence[str] | None] | None = None) -> str:
    """Render rows as an aligned plain-text table.

    ``notes[i]`` (a string or several) is printed whole on its own indented line(s) under row
    ``i``, for text too long for a column: a note is never cut.
    """
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [display_width(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], display_width(value))

    def line(values):
        return "  ".join(v + " " * (widths[i] - display_width(v))
                         for i, v in enumerate(values)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    for i, row in enumerate(cells):
        out.append(line(row))
        extra = notes[i] if notes and i < len(notes) else None
        for note in [extra] if isinstance(extra, str) else (extra or []):
            if note:
                out.append("  " + " ".join(note.split()))
    return "\n".join(out)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 hit`` / ``6 hits`` (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def _minute(value: datetime) -> str:
    # not strftime: glibc prints year 1 as "1", not "0001"
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
            f"{value.hour:02d}:{value.minute:02d}")


def in_zone(value: datetime, tz: str) -> datetime | None:
    """``value`` in zone ``tz``; None when that falls outside the years 1–9999 a datetime can
    hold (9999-12-31 23:59 UTC is already year 10000 in Asia/Shanghai)."""
    try:
        return value.astimezone(ZoneInfo(tz))
    except (OverflowError, ValueError):
        return None


def local_time(value: datetime | None, tz: str = "Asia/Shanghai") -> str:
    """``2026-11-28 09:12`` in the display time zone, or an empty string.

    A time that cannot be shown in ``tz`` (the first or last hours of the years 1–9999) is
    shown as stored, ``9999-12-31 23:59 UTC``: never an exception.
    """
    if value is None:
        return ""
    local = in_zone(value, tz)
    if local is not None:
        return _minute(local)
    utc = in_zone(value, "UTC")
    return f"{_minute(utc or value)} {'UTC' if utc else value.tzname() or ''}".rstrip()


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON with Chinese kept readable."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(value: str, *, now: datetime | None = None, tz: str = "Asia/Shanghai"
               ) -> datetime:
    """A point in time from ``7d`` / ``6h`` / ``30m`` / ``2w`` (ago) or an ISO date/time.

    Raises ``click.BadParameter`` with an example when the value is neither.
    """
    now = now or datetime.now(timezone.utc)
    text = value.strip().lower()
    try:
        if len(text) >= 2 and text[-1] in _UNITS and text[:-1].isdigit():
            return now - timedelta(**{_UNITS[text[-1]]: int(text[:-1])})
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=ZoneInfo(tz))
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise click.BadParameter(f"{value!r} is not a usable time; use e.g. 7d, 6h, 30m, 2w, "
                                 "2026-11-20 or 2026-11-20T09:00") from None
