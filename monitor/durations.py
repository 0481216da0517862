"""Durations written the way people write them: ``45m``, ``3h``, ``2h30m``, ``1d``.

Shared by ``monitor alerts silence --for`` (monitor/cli_alerts.py) and the clock policies of
``config/escalation.toml`` (monitor/policy.py).
"""
from __future__ import annotations

import re
from datetime import timedelta

#: Seconds in one of each unit a duration may use.
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: The longest duration accepted unless a caller says otherwise (seconds).
MAX_DURATION = 90 * 86400

_PART = re.compile(r"(\d+)\s*([smhdw])")


def parse_duration(text: str, *, longest: float | None = MAX_DURATION) -> float:
    """Seconds in ``30m`` / ``2h`` / ``1d`` / ``1h30m`` (case and spaces ignored).

    ValueError, one line, when ``text`` is not a duration, is not positive, or is longer than
    ``longest`` seconds (None: no upper bound).
    """
    raw = (text or "").strip().lower() if isinstance(text, str) else ""
    parts = _PART.findall(raw)
    if not raw or re.sub(r"(\d+)\s*([smhdw])|\s+", "", raw) or not parts:
        raise ValueError(f"{text!r} is not a duration; use e.g. 45m, 2h, 2h30m or 1d")
    seconds = sum(int(n) * DURATION_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration; use e.g. 45m, 2h, 1d")
    if longest is not None and seconds > longest:
        raise ValueError(f"{text!r} is longer than {format_duration(longest)}")
    return float(seconds)


def parse_timedelta(text: str, *, longest: float | None = MAX_DURATION) -> timedelta:
    """:func:`parse_duration` as a :class:`~datetime.timedelta`."""
    return timedelta(seconds=parse_duration(text, longest=longest))


def format_duration(value: float | timedelta) -> str:
    """``9000`` (seconds) or ``timedelta(hours=2, minutes=30)`` → ``"2h30m"``; ``"0s"`` for 0.

    Whole days are written as days only beyond 72 hours (``"90d"``), so that the clocks of a
    policy read as people write them (``"24h"``, ``"48h"``).
    """
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    if seconds == 0:
        return "0s"
    if seconds > 72 * 3600 and seconds % 86400 == 0:
        return f"{sign}{seconds // 86400}d"
    out = []
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    for amount, unit in ((hours, "h"), (minutes, "m"), (secs, "s")):
        if amount:
            out.append(f"{amount}{unit}")
    return sign + "".join(out)
