"""Maintenance windows per channel or source, from ``config/maintenance.toml``.

During a **channel**'s window its deliveries below the top severity wait for the window's end
(the outbox holds them, ``held = "maintenance"``); during a **source**'s window an alert whose
documents and group come only from sources in maintenance is held like a silenced one (the
lifecycle sends its firing notice at the first tick after the window, if it still fires).  The
top severity always goes at once.  Windows are ``start ≤ t < end`` in the office's zone.

    [[window]]
    start = "2026-12-05 22:00"          # office time zone; or ISO 8601 with an offset
    end = "2026-12-06 06:00"
    reason = "政务云机房割接"
    channels = ["office-dingtalk"]      # and/or
    sources = ["county-news"]

A missing file means no windows.  Every problem is a ``ConfigError`` naming the file and the key
(``window[2].end``).  See ``docs/alerts.md`` (Maintenance windows).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.errors import ConfigError
from monitor.tomlfile import Table, read_toml

FILE = "maintenance.toml"
MAINTENANCE = "maintenance"
#: The longest window a file may declare; a longer one is a channel or source to switch off.
MAX_WINDOW = timedelta(days=7)
WINDOW_KEYS = {"start", "end", "reason", "channels", "sources"}


@dataclass(frozen=True)
class Window:
    """One maintenance window: ``start`` ≤ t < ``end`` (UTC), for channels and/or sources."""

    start: datetime
    end: datetime
    reason: str
    channels: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def covers(self, at: datetime) -> bool:
        """Whether ``at`` falls in the window (the end is exclusive)."""
        return self.start <= at < self.end


@dataclass
class Maintenance:
    """Every maintenance window of a configuration (empty: none)."""

    windows: list[Window] = field(default_factory=list)
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.windows)

    def active(self, now: datetime) -> list[Window]:
        """The windows in force at ``now``."""
        return [w for w in self.windows if w.covers(now)]

    def _until(self, applies: Callable[[Window], bool], now: datetime) -> datetime | None:
        # overlapping or touching windows chain: held until the last of them ends
        at, moved = now, False
        for _ in range(len(self.windows)):
            ends = [w.end for w in self.windows if applies(w) and w.covers(at)]
            if not ends:
                break
            at, moved = max(ends), True
        return at if moved else None

    def channel_until(self, channel: str, now: datetime) -> datetime | None:
        """When the maintenance of ``channel`` in force at ``now`` ends (None: not in one)."""
        return self._until(lambda w: channel in w.channels, now)

    def sources_until(self, sources: Iterable[str], now: datetime) -> datetime | None:
        """When the first of ``sources`` leaves maintenance, if every one of them is in a
        window at ``now``; None when one is not (or no source is known)."""
        ends = []
        for source in dict.fromkeys(s for s in sources if s):
            end = self._until(lambda w, s=source: s in w.sources, now)
            if end is None:
                return None
            ends.append(end)
        return min(ends) if ends else None

    def unknown(self, channels: Iterable[str], sources: Iterable[str]) -> list[str]:
        """One line per channel or source a window names that the configuration lacks."""
        have_c, have_s = set(channels), set(sources)
        out = []
        for i, w in enumerate(self.windows, 1):
            out += [f"window[{i}]: unknown channel {c!r}" for c in w.channels if c not in have_c]
            out += [f"window[{i}]: unknown source {s!r}" for s in w.sources if s not in have_s]
        return out


def _office_zone(config_dir: Path) -> str:
    """``[monitor] timezone`` of the configuration (checked by monitor.config), else Shanghai."""
    main = config_dir / "monitor.toml"
    try:
        value = read_toml(main).get("monitor", {}).get("timezone") if main.is_file() else None
    except (ConfigError, AttributeError):
        value = None
    return value if isinstance(value, str) and value else "Asia/Shanghai"


def _when(value, tz: ZoneInfo, path: Path, key: str) -> datetime:
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text) if ":" in text else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise ConfigError(f'expected a date and time like "2026-12-05 22:00" (office time '
                              f'zone) or ISO 8601 with an offset, got {value!r}', path=path,
                              key=key)
        value = parsed
    elif isinstance(value, date) and not isinstance(value, datetime) or isinstance(value, time):
        raise ConfigError(f"expected a date and a time, got only {value.isoformat()}", path=path,
                          key=key)
    elif not isinstance(value, datetime):
        raise ConfigError(f"expected a date and time string, got {value!r}", path=path, key=key)
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(timezone.utc)


def _names(t: Table, key: str) -> tuple[str, ...]:
    values = t.get(key, list, [])
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"expected a list of names, got {value!r}", path=t.path,
                              key=t._key(key))
    return tuple(dict.fromkeys(v.strip() for v in values))


def parse_window(data, path: Path, key: str, tz: ZoneInfo) -> Window:
    """One ``[[window]]`` table → Window (ConfigError naming the file and key)."""
    t = Table(data, path, key)
    t.reject_unknown(WINDOW_KEYS)
    if "start" not in data or "end" not in data:
        missing = "start" if "start" not in data else "end"
        raise ConfigError("missing; a window needs a start and an end", path=path,
                          key=t._key(missing))
    start = _when(data["start"], tz, path, t._key("start"))
    end = _when(data["end"], tz, path, t._key("end"))
    reason = t.get("reason", str, required=True).strip()
    if not reason:
        raise ConfigError("empty; say why the window is there", path=path,
                          key=t._key("reason"))
    channels, sources = _names(t, "channels"), _names(t, "sources")
    if not channels and not sources:
        raise ConfigError("missing; a window names the channels = [...] and/or the "
                          "sources = [...] it holds", path=path, key=t._key("channels"))
    if end <= start:
        raise ConfigError(f"the end ({data['end']}) is not after the start ({data['start']})",
                          path=path, key=t._key("end"))
    if end - start > MAX_WINDOW:
        raise ConfigError(f"the window lasts {(end - start) / timedelta(hours=1):g} h, more than "
                          f"{MAX_WINDOW.days} days; switch the channel or source off instead",
                          path=path, key=t._key("end"))
    return Window(start=start, end=end, reason=reason, channels=channels, sources=sources)


def load_maintenance(config_dir: str | os.PathLike, *, timezone: str | None = None
                     ) -> Maintenance:
    """The maintenance windows of ``config_dir/maintenance.toml`` (no file: no windows).

    Times without an offset are read in ``timezone`` (default: ``[monitor] timezone`` of the
    same directory, else Asia/Shanghai).
    """
    root = Path(config_dir)
    path = root / FILE
    if not path.exists():
        return Maintenance(path=None)
    zone = timezone or _office_zone(root)
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {zone!r}", path=path) from None
    top = Table(read_toml(path), path)
    top.reject_unknown({"window"})
    raw = top.get("window", list, [])
    windows = [parse_window(item, path, f"window[{i}]", tz) for i, item in enumerate(raw, 1)]
    return Maintenance(windows=windows, path=path)
