"""Parse the dates and times that Chinese web pages print, into timezone-aware UTC datetimes.

Fast regular expressions handle the common shapes (ISO, ``2022年9月27日 星期二 09:30``, RFC 822,
「3分钟前」, 「昨天 12:30」, ``11-20``, 「下午3点15分」, 「9:30 PM」, a bare 「上午9点半」), with weekdays
and labels (「发布时间：」「来源：」) around them; dateparser (``languages=['zh']``) is only the last
resort.  Nothing here raises: a text that cannot be read gives None (the caller counts it).

:func:`parse_datetime_info` also says whether the text was *relative* to the time of reading
(「3小时前」, 「昨天 12:30」, a time with no date, dateparser's 「上周」; rounded down to the minute so
that two readings agree) and whether it is *date-only*: no time of day could be read, because none
was printed or the printed one is impossible (「25:61」).  A date-only value is local midnight of its
date (「3天前」: the reading time less three days); its time of day is not news.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

_CN = "零〇一二两三四五六七八九十"
_LABEL = re.compile(r"^[^\d]{0,16}?[:：]\s*(?=\S)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]+")
_TIME = (r"(?:(?=[上下中晚凌早清傍午夜AaPp])"
         r"(?P<ampm>上午|下午|中午|晚上|凌晨|早上|早晨|清晨|傍晚|午后|夜里|夜间|晚间|AM|PM|am|pm)\s*)?"
         rf"(?P<h>\d{{1,2}}|[{_CN}]{{1,3}})\s*"
         r"(?:[:：]\s*(?P<mi>\d{1,2})(?:\s*[:：]\s*(?P<s>\d{1,2}))?"
         rf"|[时点](?!击)\s*(?:(?P<mi2>\d{{1,2}}|半|一刻|三刻|[{_CN}]{{1,3}})\s*分?"
         r"(?:\s*(?P<s2>\d{1,2})\s*秒)?)?)"
         r"(?:\.\d+)?(?:\s*(?P<ampm2>[AaPp]\.?[Mm]\.?)(?![A-Za-z]))?")
_WEEKDAY = (r"(?:星期|周|礼拜)[一二三四五六日天七]"
            r"|[(【\[]\s*(?:(?:星期|周|礼拜)\s*)?[一二三四五六日天七]\s*[)】\]]"
            r"|\(?(?i:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*)\.?\)?")
# what may follow a date: a weekday, then the time and its zone (lookaheads: a quick "no")
_AFTER = re.compile(r"(?:T|[\s,]*(?:(?=[星周礼(【\[A-Za-z])(?:" + _WEEKDAY + r")[\s,]*)?)" + _TIME
                    + r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2}(?!\d)|UTC|GMT)?")
_ISO = re.compile(r"(?<!\d)(?P<y>\d{4})\s*[-/.年]\s*(?P<mo>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})"
                  r"(?!\d)\s*日?")
_MONTH_DAY = re.compile(r"(?<![\d年./-])(?P<mo>\d{1,2})\s*[-/月]\s*(?P<d>\d{1,2})(?!\d|[-/.]\d)\s*日?")
_YEAR_MONTH = re.compile(r"(?P<y>\d{4})\s*[-/.年]\s*(?P<mo>\d{1,2})\s*月?")
_DAY_WORD = re.compile(r"今天|今日|昨天|昨日|前天")
_TIME_ONLY = re.compile(r"(?:发布于|更新于|发表于|于)?\s*" + _TIME + r"\s*(?:发布|更新|发表)?")
# ``pre``: a sign or an exponent in front (「-1天前」「1e308秒前」) makes it no date
_AGO = re.compile(r"(?P<pre>[-+.]|\d[eE][-+]?)?(?P<n>\d+(?:\.\d+)?|半|[一二两三四五六七八九十]|几)"
                  r"\s*(?P<u>秒|分钟|分|小时|个小时|天|日|周|星期|个月|月|年)\s*前")
_NUMERALS = {"半": 0.5, "几": 3, "两": 2, **{c: i + 1 for i, c in enumerate("一二三四五六七八九十")}}
_EPOCH = re.compile(r"^\d{10}(?:\d{3})?$")
_RFC822 = re.compile(r"^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
_HUGE_YEAR = re.compile(r"\d{5,}\s*[-/.年]")
_HAS_TIME = re.compile(r"\d\s*[:：点时]|(?<![A-Za-z])[ap]\.?m\b", re.IGNORECASE)
_UNITS = {"秒": "seconds", "分钟": "minutes", "分": "minutes", "小时": "hours",
          "个小时": "hours", "天": "days", "日": "days", "周": "weeks", "星期": "weeks"}
_LONG_UNITS = {"个月": 30, "月": 30, "年": 365}
_DAYS_PER = {"seconds": 1 / 86400, "minutes": 1 / 1440, "hours": 1 / 24, "days": 1, "weeks": 7}
_MAX_AGO_DAYS = 200 * 366  # 「99999999999天前」「1000000周前」 are no dates (not before 1970)
_DIGITS = {"零": 0, "〇": 0, "两": 2, **{c: i + 1 for i, c in enumerate("一二三四五六七八九")}}
_MINUTES = {"半": 30, "一刻": 15, "三刻": 45}
_PM = ("下午", "傍晚", "午后", "pm")
_NIGHT = ("晚上", "夜里", "夜间", "晚间")


@dataclass(frozen=True)
class ParsedTime:
    """A date text read: ``value`` (UTC, or None when unreadable), ``relative`` (moves with the
    time of reading) and ``date_only`` (no time of day could be read)."""

    value: datetime | None
    relative: bool = False
    date_only: bool = False


_Reading = tuple  # ParsedTime's fields, cheaper to build on the way
_UNREAD: _Reading = (None, False, False)


@lru_cache(maxsize=32)
def _named_zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - a bad zone name must not break a crawl
        return ZoneInfo("Asia/Shanghai")


def _zone(tz: str | tzinfo) -> tzinfo:
    return tz if isinstance(tz, tzinfo) else _named_zone(str(tz))


def _number(text: str) -> int | None:
    """An integer from ASCII digits or Chinese numerals up to 99 (「十」「二十三」「〇五」)."""
    if text.isdecimal():
        return int(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        high = _DIGITS.get(tens) if tens else 1
        low = _DIGITS.get(ones) if ones else 0
        return None if high is None or low is None else high * 10 + low
    digits = [_DIGITS.get(c) for c in text]
    return None if None in digits else int("".join(map(str, digits)))


def _hour(m: re.Match) -> tuple[int, int, int] | None:
    """Hour, minute, second from a match of ``_TIME``; None when it is no time of day (25:61).

    Hour 24 (「24:00」「晚上12点」) is midnight at the end of the day.
    """
    h, raw = m["h"], m["mi"] or m["mi2"]
    hour = int(h) if h.isdecimal() else _number(h)
    minute = (int(raw) if raw.isdecimal() else _MINUTES.get(raw) or _number(raw)) if raw else 0
    second = int(m["s"] or m["s2"] or 0)
    if hour is None or minute is None:
        return None
    ampm = m["ampm"] or m["ampm2"]
    if ampm:
        hour = _half_day(hour, ampm.lower().replace(".", ""))
    if hour > 24 or minute > 59 or second > 59 or (hour == 24 and minute + second):
        return None
    return hour, minute, second


def _half_day(hour: int, ampm: str) -> int:
    """The 24-hour hour of a 12-hour one said with 上午/下午/晚上/凌晨/中午/AM/PM."""
    if (ampm in _PM and hour < 12) or (ampm in _NIGHT and 5 <= hour < 12):
        return hour + 12
    if ampm in _NIGHT and hour == 12:
        return 24
    if ampm == "中午" and hour < 11:
        return hour + 12
    if ampm in ("凌晨", "am") and hour == 12:
        return 0
    return hour


def _offset(text: str | None) -> tzinfo | None:
    if not text:
        return None
    if text in ("Z", "UTC", "GMT"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    if int(digits[:2]) > 14 or int(digits[2:]) > 59:
        return None
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _build(y: int, mo: int, d: int, hms: tuple[int, int, int], zone: tzinfo) -> datetime | None:
    if not 1970 <= y <= 2100:
        return None
    try:
        day = datetime(y, mo, d, 0 if hms[0] == 24 else hms[0], *hms[1:], tzinfo=zone)
    except ValueError:
        return None
    return day + timedelta(days=1) if hms[0] == 24 else day


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    if not text.isprintable():
        text = _CONTROL.sub(" ", text)
    text = text.strip()
    return _LABEL.sub("", text, count=1).strip() if _LABEL.match(text) else text


def _dated(y: int, mo: int, d: int, text: str, end: int, zone: tzinfo
           ) -> tuple[datetime | None, bool]:
    """(local datetime or None, date-only?) for a date found in ``text`` ending at ``end``, with
    the time printed right after it (past a weekday) when that can be read."""
    m = _AFTER.match(text, end)
    hms = _hour(m) if m else None
    offset = _offset(m["tz"]) if hms else None
    return _build(y, mo, d, hms or (0, 0, 0), offset or zone), hms is None


def _relative(text: str, now: datetime) -> _Reading | None:
    if text.startswith("刚刚") or text in ("刚才", "just now"):
        return now, True, False
    m = _AGO.search(text)
    if m:
        if m["pre"]:
            return _UNREAD
        raw, unit = m["n"], m["u"]
        n = _NUMERALS[raw] if raw in _NUMERALS else float(raw)  # 400 digits: inf, not slow
        days = n * (_LONG_UNITS[unit] if unit in _LONG_UNITS else _DAYS_PER[_UNITS[unit]])
        if not days <= _MAX_AGO_DAYS:  # bounded here: timedelta() would overflow
            return _UNREAD
        if unit in _LONG_UNITS:
            return now - timedelta(days=days), True, True
        # 「3天前」 says no time of day: date-only
        return now - timedelta(**{_UNITS[unit]: n}), True, _UNITS[unit] in ("days", "weeks")
    m = _DAY_WORD.search(text)
    if m:
        back = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2}[m[0]]
        day = (now - timedelta(days=back)).date()
        value, date_only = _dated(day.year, day.month, day.day, text, m.end(), now.tzinfo)
        return (value, True, date_only) if value else None
    return None


def parse_datetime(text: str | None, tz: str | tzinfo = "Asia/Shanghai",
                   now: datetime | None = None) -> datetime | None:
    """Read a date/time as printed on a page; a timezone-aware UTC datetime, or None.

    ``tz`` is the zone of times that carry no offset; ``now`` (default: the current time) anchors
    relative forms (「3分钟前」「昨天 12:30」) and month-day forms without a year.
    """
    return _read(text, tz, now)[0]


def parse_datetime_ex(text: str | None, tz: str | tzinfo = "Asia/Shanghai",
                      now: datetime | None = None) -> tuple[datetime | None, bool]:
    """Like :func:`parse_datetime`, and whether the text was relative to ``now``.

    ``(datetime, True)`` for 「刚刚」「3小时前」「昨天 12:30」「前天」 and the like (rounded down to
    the minute): such a date moves each time the page is read.  ``(None, False)`` when the text
    cannot be read.
    """
    return _read(text, tz, now)[:2]


def parse_datetime_info(text: str | None, tz: str | tzinfo = "Asia/Shanghai",
                        now: datetime | None = None) -> ParsedTime:
    """Read a date/time like :func:`parse_datetime`; a :class:`ParsedTime` that also says
    whether it was relative to ``now`` and whether it is date-only (no readable time of day)."""
    return ParsedTime(*_read(text, tz, now))


def _read(text: str | None, tz: str | tzinfo, now: datetime | None) -> _Reading:
    """(UTC value or None, relative?, date-only?); never raises."""
    if text is None:
        return _UNREAD
    try:
        value, relative, date_only = _parse(str(text), _zone(tz), now)
    except Exception:  # noqa: BLE001 - never raise: the caller counts an unparsed date
        log.debug("date parse failed for %r", text, exc_info=True)
        return _UNREAD
    if value is None or not 1970 <= value.year <= 2100:  # nor 「99999999999」 or 「222026天前」
        return _UNREAD
    value = value.astimezone(timezone.utc)
    if relative:
        value = value.replace(second=0, microsecond=0)
    return value, relative, date_only


def is_relative(text: str | None, tz: str | tzinfo = "Asia/Shanghai") -> bool:
    """True when ``text`` is a readable date relative to the time of reading (「3小时前」)."""
    return _read(text, tz, None)[1]


def _parse(text: str, zone: tzinfo, now: datetime | None) -> _Reading:
    """The reading, with its value in any zone (the caller converts to UTC)."""
    if len(text) > 1000:
        return _UNREAD
    text = _clean(text)
    if not text or len(text) > 200:
        return _UNREAD
    if _EPOCH.match(text):
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        return datetime.fromtimestamp(seconds, timezone.utc), False, False
    if _RFC822.match(text):
        try:
            parsed = parsedate_to_datetime(text)
            parsed = parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed
            return parsed, False, ":" not in text
        except (TypeError, ValueError, IndexError, OverflowError):
            if ":" not in text:  # 「Tue, 24 Nov 2026」: the email parser wants a time
                return _parse(text + " 00:00", zone, now)[0], False, True
    m = _ISO.search(text)
    if m:
        value, date_only = _dated(int(m["y"]), int(m["mo"]), int(m["d"]), text, m.end(), zone)
        return (value, False, date_only)
    now = now or datetime.now(zone)
    now = now.replace(tzinfo=zone) if now.tzinfo is None else now.astimezone(zone)
    result = _relative(text, now)
    if result is not None:
        return result
    if _HUGE_YEAR.search(text):  # 「99999-01-01」 is no date, not 「01-01」
        return _UNREAD
    m = _YEAR_MONTH.fullmatch(text)
    if m:  # 「2026年11月」: a month, read as its first day
        return _build(int(m["y"]), int(m["mo"]), 1, (0, 0, 0), zone), False, True
    m = _MONTH_DAY.search(text)
    if m:
        mo, d = int(m["mo"]), int(m["d"])
        value, date_only = _dated(now.year, mo, d, text, m.end(), zone)
        if value is not None and value > now:  # a month-day ahead of now is last year's
            value, date_only = _dated(now.year - 1, mo, d, text, m.end(), zone)
        if value is not None:
            return (value, False, date_only)
    m = _TIME_ONLY.fullmatch(text)
    if m:  # 「09:30」「上午9点半」 alone: today's, or yesterday's when that is still ahead
        hms = _hour(m)
        value = _build(now.year, now.month, now.day, hms, zone) if hms else None
        if value is not None and value > now:
            value -= timedelta(days=1)
        return value, True, False
    value = _dateparser(text, zone, now)
    # 「上周」「去年」「5 days ago」: without a four-digit year, what dateparser reads depends on now
    relative, date_only = value is not None and not _YEAR.search(text), not _HAS_TIME.search(text)
    if value is not None and date_only and not relative:  # a date: its local midnight
        value = value.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    return value, relative, date_only


def _dateparser(text: str, zone: tzinfo, now: datetime) -> datetime | None:
    """The slow, general fallback (imported on first use)."""
    try:
        import dateparser
    except ImportError:  # pragma: no cover - dateparser is a declared dependency
        return None
    settings = {"TIMEZONE": str(zone), "RETURN_AS_TIMEZONE_AWARE": True,
                "RELATIVE_BASE": now.replace(tzinfo=None), "PREFER_DATES_FROM": "past"}
    parsed = dateparser.parse(text, languages=["zh"], settings=settings)
    if parsed is None or not 1970 <= parsed.year <= 2100:
        return None
    parsed = parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed
    return parsed.astimezone(timezone.utc)
