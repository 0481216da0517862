"""Working days on the Chinese official calendar: one module for every working-day deadline.

A year's schedule comes from, in this order: ``config/calendars/<year>.toml`` when it lists the
national ``holidays`` (config beats the package), else the ``chinesecalendar`` package for the years
it knows (1.11.0: 2004–2026), else **Monday–Friday**, with a warning on the calendar
(``warnings`` and ``on_warning``) and on every deadline that used it (``Deadline.fallback_years``)
— never an exception.  A file's local ``closures`` (a county's own days off) and make-up
``workdays`` apply on top of whichever schedule the year has.

Counting rule (docs/calendars.md): the day a period starts is not counted (《民法典》第二百零一条);
``add_workdays(start, n)`` is due at 24:00 local time of the n-th working day after the start's
local date.  ``subtract_workdays(event, n)`` gives the latest filing day such that n whole working
days lie between filing and event, neither day counted.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from monitor.errors import ConfigError
from monitor.tomlfile import read_toml

try:  # the package is a dependency, but a calendar without it still works (Monday–Friday)
    import chinese_calendar as _cc
except ImportError:  # pragma: no cover - exercised only on a broken install
    _cc = None

DEFAULT_TZ = "Asia/Shanghai"
MAX_WORKDAYS = 3660  # ~14 years: a larger count is a programming error, not a deadline
FILE_KEYS = {"year", "source", "template", "holidays", "workdays", "closures"}
ITEM_KEYS = {"date", "from", "to", "name"}
CN_NAMES = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
            "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "National Day": "国庆节",
            "Mid-autumn Festival": "中秋节", "Anti-Fascist 70th Day": "抗战胜利70周年纪念日"}
WEEKDAYS_CN = "一二三四五六日"
_YEAR_FILE = re.compile(r"^(\d{4})\.toml$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Day:
    """One calendar day: working or not, and why (``kind``: workday, weekend, holiday, makeup,
    closure); ``fallback`` when its year had no schedule and Monday–Friday was assumed."""

    date: date
    workday: bool
    kind: str
    name: str = ""
    fallback: bool = False

    def __str__(self) -> str:
        label = {"weekend": "周末", "makeup": "调休上班", "closure": "本地休息",
                 "holiday": "节假日", "workday": "工作日"}[self.kind]
        name = f" {self.name}" if self.name else ""
        note = " (Monday–Friday fallback)" if self.fallback else ""
        return f"{self.date.isoformat()} 周{WEEKDAYS_CN[self.date.weekday()]} {label}{name}{note}"


@dataclass(frozen=True)
class Deadline:
    """When a working-day period ends: ``due`` (aware, UTC; at or after it is late), the last
    working day counted (local date), the office zone and the years counted Monday–Friday."""

    due: datetime
    last_day: date
    tz: str = DEFAULT_TZ
    fallback_years: tuple[int, ...] = ()

    @property
    def local(self) -> datetime:
        """``due`` in the office's time zone."""
        return self.due.astimezone(ZoneInfo(self.tz))

    @property
    def fallback(self) -> bool:
        """True when some year of the count had no holiday schedule (Monday–Friday used)."""
        return bool(self.fallback_years)

    def is_overdue(self, now: datetime) -> bool:
        """True when ``now`` (aware) is at or after the due time."""
        return _aware(now) >= self.due

    def __str__(self) -> str:
        local = self.local
        shown = (f"{self.last_day.isoformat()} 24:00" if local.date() > self.last_day
                 and local.time() == time(0) else local.strftime("%Y-%m-%d %H:%M"))
        years = ", ".join(map(str, self.fallback_years))
        return shown + f" {self.tz}" + (f" (counted Monday–Friday in {years}: no holiday "
                                        "schedule)" if years else "")


@dataclass
class YearSchedule:
    """A year's non-working and make-up days and where they came from (``origin``: config,
    package or fallback; ``source``: the note a person can check)."""

    year: int
    origin: str
    source: str
    holidays: dict[date, str] = field(default_factory=dict)
    workdays: dict[date, str] = field(default_factory=dict)
    closures: dict[date, str] = field(default_factory=dict)
    path: Path | None = None

    def day(self, d: date) -> Day:
        """Classify one day of this year (closures > make-up workdays > holidays > weekday)."""
        fb = self.origin == "fallback"
        if d in self.closures:
            return Day(d, False, "closure", self.closures[d], fb)
        if d in self.workdays:
            return Day(d, True, "makeup", self.workdays[d], fb)
        if d in self.holidays:
            return Day(d, False, "holiday", self.holidays[d], fb)
        if d.weekday() >= 5:
            return Day(d, False, "weekend", "", fb)
        return Day(d, True, "workday", "", fb)


def package_version() -> str:
    """The installed chinesecalendar version, or '' when it is missing."""
    if _cc is None:
        return ""
    try:
        from importlib.metadata import version
        return version("chinesecalendar")
    except Exception:  # noqa: BLE001 - metadata missing: fall back to the module's own
        return str(getattr(_cc, "__version__", "?"))


def package_years() -> tuple[int, int] | None:
    """The first and last year the package has data for, or None without the package."""
    if _cc is None or not getattr(_cc, "holidays", None):
        return None
    return min(_cc.holidays).year, max(_cc.holidays).year


def package_schedule(year: int) -> YearSchedule | None:
    """The package's schedule of ``year``, or None when it does not know that year."""
    if _cc is None:
        return None
    try:
        _cc.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return None
    sched = YearSchedule(year, "package", f"chinesecalendar {package_version()}")
    d = date(year, 1, 1)
    while d.year == year:
        off, name = _cc.get_holiday_detail(d)
        if name:
            label = CN_NAMES.get(str(name), str(name))
            (sched.holidays if off else sched.workdays)[d] = label
        d += timedelta(days=1)
    return sched


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware one")
    return value


def _count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"a number of working days must be an int, got {n!r}")
    if not 0 <= n <= MAX_WORKDAYS:
        raise ValueError(f"a number of working days must be 0..{MAX_WORKDAYS}, got {n}")
    return n


def _zone(tz) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(str(tz))


@dataclass
class WorkCalendar:
    """Working days for one office: config files, the package, then Monday–Friday (warned)."""

    timezone: str = DEFAULT_TZ
    files: dict[int, YearSchedule] = field(default_factory=dict)
    use_package: bool = True
    calendar_dir: Path | None = None
    on_warning: Callable[[str], None] | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)  # year -> why its file is not used
    _years: dict[int, YearSchedule] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def load(cls, config_dir, *, timezone: str = DEFAULT_TZ, strict: bool = True,
             on_warning: Callable[[str], None] | None = None,
             use_package: bool = True) -> "WorkCalendar":
        """Read ``<config_dir>/calendars/<year>.toml``; a bad file raises its ConfigError when
        ``strict``, else it is skipped (listed in ``errors``, warned) and its year falls back."""
        ZoneInfo(timezone)  # an unknown zone fails here, not at the first deadline
        folder = Path(config_dir) / "calendars"
        cal = cls(timezone=timezone, use_package=use_package, calendar_dir=folder,
                  on_warning=on_warning)
        if folder.exists() and not folder.is_dir():
            raise ConfigError("is a file; expected a folder of <year>.toml files", path=folder)
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
            if path.name.startswith("."):  # editors' lock and backup files
                continue
            try:
                sched = parse_calendar_file(path)
            except ConfigError as exc:
                if strict:
                    raise
                cal.errors.append(exc)
                match = _YEAR_FILE.match(path.name)
                if match:
                    cal.skipped[int(match.group(1))] = f"its file has an error: {exc}"
                cal.warn(f"calendar file not used: {exc}")
                continue
            year = int(_YEAR_FILE.match(path.name).group(1))
            if sched is None:
                cal.skipped[year] = (f"{path} is still a template (template = true): fill it in "
                                     "and delete that line")
            else:
                cal.files[year] = sched
        return cal

    @property
    def tz(self) -> ZoneInfo:
        """The office's time zone."""
        return ZoneInfo(self.timezone)

    def warn(self, message: str) -> None:
        """Record a warning once and pass it to ``on_warning``."""
        if message not in self.warnings:
            self.warnings.append(message)
            if self.on_warning is not None:
                self.on_warning(message)

    def year(self, year: int) -> YearSchedule:
        """The schedule used for ``year`` (built once; a fallback year warns on first use)."""
        if year in self._years:
            return self._years[year]
        own = self.files.get(year)
        if own is not None and own.origin == "config":
            sched = own
        else:
            pkg = package_schedule(year) if self.use_package else None
            base = pkg or YearSchedule(year, "fallback", "Monday–Friday (no holiday schedule)")
            sched = YearSchedule(year, base.origin, base.source, dict(base.holidays),
                                 dict(base.workdays), {}, own.path if own else None)
            if own is not None:  # a file with closures / extra workdays only: layered on top
                sched.source += f" + {own.source}"
                for d in own.workdays:
                    sched.holidays.pop(d, None)
                sched.workdays.update(own.workdays)
                sched.closures.update(own.closures)
        self._years[year] = sched
        if sched.origin == "fallback":
            self.warn(self._fallback_message(year))
        return sched

    def _fallback_message(self, year: int) -> str:
        known = package_years() if self.use_package else None
        pkg = (f"chinesecalendar {package_version()} knows {known[0]}–{known[1]}" if known
               else "no holiday package in use")
        folder = self.calendar_dir or Path("config/calendars")
        why = self.skipped.get(year) or (
            f"{self.files[year].path} lists no national holidays" if year in self.files
            else f"no {folder / f'{year}.toml'}")
        return (f"{year}: counted Monday–Friday, without national holidays or 调休 make-up days "
                f"({pkg}; {why}); supply {folder / f'{year}.toml'} (see docs/calendars.md)")

    def _date(self, value, tz=None) -> date:
        if isinstance(value, datetime):
            return _aware(value).astimezone(_zone(tz or self.timezone)).date()
        if isinstance(value, date):
            return value
        raise TypeError(f"expected a date or an aware datetime, got {value!r}")

    def day(self, value, tz=None) -> Day:
        """What ``value`` (a date, or an aware datetime read in the office zone) is."""
        d = self._date(value, tz)
        return self.year(d.year).day(d)

    def is_workday(self, value, tz=None) -> bool:
        """True when the day is a working day (make-up Saturdays included)."""
        return self.day(value, tz).workday

    def next_workday(self, value, tz=None, *, inclusive: bool = False) -> date:
        """The first working day after the day (or the day itself, when ``inclusive``)."""
        d = self._date(value, tz)
        if not inclusive:
            d += timedelta(days=1)
        for _ in range(MAX_WORKDAYS):
            if self.is_workday(d):
                return d
            d += timedelta(days=1)
        raise ValueError(f"no working day within {MAX_WORKDAYS} days of {d}")  # pragma: no cover

    def _step(self, d: date, n: int, step: int, years: set[int]) -> date:
        counted = 0
        while counted < n:
            d += timedelta(days=step)
            info = self.day(d)
            if info.fallback:
                years.add(d.year)
            counted += info.workday
        return d

    def add_workdays(self, start, n: int, tz=None, *, until="end_of_day") -> Deadline:
        """The end of ``n`` working days from ``start`` (its day not counted): 24:00 local of the
        n-th working day after it (``until="same_time"``: at start's time of day; or a
        ``datetime.time``, e.g. the office's closing time)."""
        zone = _zone(tz or self.timezone)
        n, years = _count(n), set()
        first = self._date(start, zone)
        last = self._step(first, n, 1, years)
        if self.day(last).fallback:
            years.add(last.year)
        if until == "end_of_day":
            local = datetime.combine(last + timedelta(days=1), time(0), zone)
        elif until == "same_time":
            if not isinstance(start, datetime):
                raise ValueError("until='same_time' needs a datetime start, not a date")
            local = datetime.combine(last, start.astimezone(zone).time(), zone)
        elif isinstance(until, time):
            local = datetime.combine(last, until.replace(tzinfo=None), zone)
        else:
            raise ValueError(f"until must be 'end_of_day', 'same_time' or a time, got {until!r}")
        return Deadline(local.astimezone(timezone.utc), last, zone.key, tuple(sorted(years)))

    def subtract_workdays(self, event, n: int, tz=None, *, count_event_day: bool = False
                          ) -> Deadline:
        """The latest filing day for something due ``n`` working days before ``event``: n whole
        working days between filing and event, neither counted (``count_event_day``: the
        event day counts as the n-th).  ``due`` is 24:00 local of that (working) day."""
        zone = _zone(tz or self.timezone)
        n, years = _count(n), set()
        day = self._date(event, zone)
        start = self._step(day, n, -1, years)  # the n-th working day before the event
        last = start if count_event_day else self._step(start, 1, -1, years)
        local = datetime.combine(last + timedelta(days=1), time(0), zone)
        return Deadline(local.astimezone(timezone.utc), last, zone.key, tuple(sorted(years)))

    def workdays_between(self, a, b, tz=None) -> int:
        """Working days after ``a`` up to and including ``b`` (negative when ``b`` is earlier)."""
        start, end = self._date(a, tz), self._date(b, tz)
        sign = 1
        if end < start:
            start, end, sign = end, start, -1
        total, d = 0, start
        while d < end:
            d += timedelta(days=1)
            total += self.is_workday(d)
        return sign * total

    def days(self, first, last, tz=None) -> list[Day]:
        """Every day from ``first`` to ``last``, both included."""
        d, end, out = self._date(first, tz), self._date(last, tz), []
        while d <= end:
            out.append(self.day(d))
            d += timedelta(days=1)
        return out

    def non_working_days(self, first, last, tz=None) -> list[Day]:
        """The weekends, holidays and closures from ``first`` to ``last`` (both included)."""
        return [d for d in self.days(first, last, tz) if not d.workday]

    def fallback_years(self, first, last, tz=None) -> list[int]:
        """The years from ``first`` to ``last`` that have no schedule (Monday–Friday), so that
        a service can warn in December that next year's holidays are missing."""
        a, b = self._date(first, tz).year, self._date(last, tz).year
        return [y for y in range(a, b + 1) if self.year(y).origin == "fallback"]


def load_calendar(config_dir, **options) -> WorkCalendar:
    """Shorthand for :meth:`WorkCalendar.load`."""
    return WorkCalendar.load(config_dir, **options)


def parse_calendar_file(path: Path) -> YearSchedule | None:
    """Read one ``<year>.toml``; None for a template (``template = true``); a ConfigError names
    the file, the key and the item for a bad date, a date of another year, a day that is both a
    holiday and a working day, or an unknown key."""
    path = Path(path)
    match = _YEAR_FILE.match(path.name)
    if not match:
        raise ConfigError("a calendar file is named after its year, like 2027.toml", path=path)
    year, data = int(match.group(1)), read_toml(path)
    _unknown(data, FILE_KEYS, path, None)
    template = data.get("template", False)
    if not isinstance(template, bool):
        raise ConfigError(f"expected true or false, got {template!r}", path=path, key="template")
    if template:
        return None
    if data.get("year", year) != year or isinstance(data.get("year"), bool):
        raise ConfigError(f"says {data['year']!r} but the file is named {path.name}; a file "
                          "holds the year it is named after", path=path, key="year")
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ConfigError("missing or empty: say where these dates come from (the notice's "
                          "title, number and address)", path=path, key="source")
    if data.get("holidays", None) == []:
        raise ConfigError("empty: list the year's holidays from the notice, or remove the key to "
                          "keep the package's holidays and add only closures", path=path,
                          key="holidays")
    lists = {key: _dates(data.get(key, []), year, path, key)
             for key in ("holidays", "workdays", "closures")}
    holidays, workdays, closures = (lists[k] for k in ("holidays", "workdays", "closures"))
    for d, (item, _name) in workdays.items():
        for other, days in (("holidays", holidays), ("closures", closures)):
            if d in days:
                raise ConfigError(f"item {item}: {d} is also in {other} (item {days[d][0]}); a "
                                  "day is either a working day or not", path=path, key="workdays")
        if d.weekday() < 5 and d not in holidays:
            raise ConfigError(f"item {item}: {d} is a weekday (周{WEEKDAYS_CN[d.weekday()]}), a "
                              "working day already; list here the weekend days worked in lieu "
                              "(调休上班)", path=path, key="workdays")
    origin = "config" if "holidays" in data else "local"
    return YearSchedule(year, origin, source.strip(),
                        {d: n for d, (_i, n) in holidays.items()},
                        {d: n or "调休上班" for d, (_i, n) in workdays.items()},
                        {d: n for d, (_i, n) in closures.items()}, path)


def _unknown(data: dict, allowed: set[str], path: Path, key: str | None, where: str = "") -> None:
    for name in data:
        if name not in allowed:
            close = difflib.get_close_matches(name, sorted(allowed), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(allowed))}"
            raise ConfigError(f"{where}unknown key {name!r}; {hint}", path=path, key=key)


def _date_value(value, path: Path, key: str, where: str) -> date:
    if isinstance(value, datetime):
        raise ConfigError(f"{where}{value.isoformat()} has a time of day; expected a date",
                          path=path, key=key)
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{where}not a date: {value!r}; expected YYYY-MM-DD, e.g. 2027-02-06",
                      path=path, key=key)


def _dates(items, year: int, path: Path, key: str) -> dict[date, tuple[int, str]]:
    """The days of one list: date -> (item number, name); ranges expanded."""
    if not isinstance(items, list):
        raise ConfigError("expected a list of dates or {from = …, to = …, name = …} tables",
                          path=path, key=key)
    out: dict[date, tuple[int, str]] = {}
    for number, item in enumerate(items, 1):
        where = f"item {number}: "
        name = ""
        if isinstance(item, dict):
            _unknown(item, ITEM_KEYS, path, key, where)
            name = item.get("name", "")
            if not isinstance(name, str):
                raise ConfigError(f"{where}name must be a string", path=path, key=key)
            if "date" in item and ("from" in item or "to" in item):
                raise ConfigError(f"{where}give either date or from/to, not both", path=path,
                                  key=key)
            if "date" in item:
                first = last = _date_value(item["date"], path, key, where)
            elif "from" in item and "to" in item:
                first = _date_value(item["from"], path, key, where)
                last = _date_value(item["to"], path, key, where)
            else:
                raise ConfigError(f"{where}needs date = … or both from = … and to = …",
                                  path=path, key=key)
        else:
            first = last = _date_value(item, path, key, where)
        for d in (first, last):
            if d.year != year:
                raise ConfigError(f"{where}{d} is not in {year}; {path.name} holds {year} only",
                                  path=path, key=key)
        if last < first:
            raise ConfigError(f"{where}from {first} is after to {last}", path=path, key=key)
        d = first
        while d <= last:
            out.setdefault(d, (number, name.strip()))
            d += timedelta(days=1)
    return out
