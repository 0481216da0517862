"""Parse the dates and times that Chinese web pages print, into timezone-aware UTC datetimes.

Fast regular expressions handle the common shapes (ISO, ``2022年9月27日``, RFC 822, 「3分钟前」,
「昨天 12:30」, ``11-20``); dateparser (``languages=['zh']``) is only the last resort.  Nothing
here raises: a text that cannot be read gives None, and the caller counts an "unparsed date".

Relative forms (「刚刚」「3小时前」「昨天 12:30」, and what only dateparser reads when it carries no
four-digit year, such as 「上周」) depend on when the page was read: :func:`parse_datetime_ex` says
so, and their results are rounded down to the minute so that two readings a few seconds apart
agree.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from datetime import datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

_LABEL = re.compile(r"^[^\d]{0,16}?[:：]\s*(?=\S)")
_TIME = (r"(?:(?P<ampm>上午|下午|晚上|凌晨|中午|早上|傍晚|夜里|夜间|AM|PM|am|pm)\s*)?"
         r"(?P<h>\d{1,2})\s*[:：时点]\s*(?:(?P<mi>\d{1,2}|半)\s*分?)?"
         r"(?:\s*[:：]\s*(?P<s>\d{1,2})|\s*(?P<s2>\d{1,2})\s*秒)?")
_ISO = re.compile(
    r"(?P<y>\d{4})\s*[-/.年]\s*(?P<mo>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})(?!\d)\s*日?"
    r"(?:(?:T|,\s*|\s*)" + _TIME + r"(?:\.\d+)?\s*(?P<tz>Z|[+-]\d{2}:?\d{2}(?!\d)|UTC|GMT)?)?")
_MONTH_DAY = re.compile(r"(?<!\d)(?P<mo>\d{1,2})\s*[-/月]\s*(?P<d>\d{1,2})(?!\d)\s*日?"
                        r"(?:\s*" + _TIME + r")?")
_DAY_WORD = re.compile(r"(?P<w>今天|今日|昨天|昨日|前天)(?:\s*" + _TIME + r")?")
_AGO = re.compile(r"(?P<n>\d+|半|[一二两三四五六七八九十]|几)\s*(?P<u>秒|分钟|分|小时|个小时|天|日|周|星期|个月|月|年)\s*前")
_NUMERALS = {"半": 0.5, "几": 3, "两": 2, **{c: i + 1 for i, c in enumerate("一二三四五六七八九十")}}
_EPOCH = re.compile(r"^\d{10}(?:\d{3})?$")
_RFC822 = re.compile(r"^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
_UNITS = {"秒": "seconds", "分钟": "minutes", "分": "minutes", "小时": "hours",
          "个小时": "hours", "天": "days", "日": "days", "周": "weeks", "星期": "weeks"}


def _zone(tz: str | tzinfo) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except Exception:  # noqa: BLE001 - a bad zone name must not break a crawl
        return ZoneInfo("Asia/Shanghai")


def _hour(m: re.Match) -> tuple[int, int, int] | None:
    """Hour, minute, second from the named time groups (0, 0, 0 when absent)."""
    if not m.groupdict().get("h"):
        return 0, 0, 0
    hour = int(m["h"])
    minute = 30 if m["mi"] == "半" else int(m["mi"] or 0)
    second = int(m["s"] or m["s2"] or 0)
    ampm = (m["ampm"] or "").lower()
    if ampm in ("下午", "晚上", "傍晚", "夜里", "夜间", "pm") and hour < 12:
        hour += 12
    elif ampm == "中午" and hour < 11:
        hour += 12
    elif ampm in ("凌晨", "am") and hour == 12:
        hour = 0
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second


def _offset(text: str | None) -> tzinfo | None:
    if not text:
        return None
    if text in ("Z", "UTC", "GMT"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    if int(digits[:2]) > 14:
        return None
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _build(y: int, mo: int, d: int, hms: tuple[int, int, int] | None, zone: tzinfo
           ) -> datetime | None:
    if hms is None or not 1970 <= y <= 2100:
        return None
    try:
        return datetime(y, mo, d, *hms, tzinfo=zone)
    except ValueError:
        return None


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("\u00a0", " ").strip()
    text = _LABEL.sub("", text, count=1) if _LABEL.match(text) else text
    return text.strip()


def _relative(text: str, now: datetime) -> datetime | None:
    if text.startswith("刚刚") or text in ("刚才", "just now"):
        return now
    m = _AGO.search(text)
    if m:
        raw = m["n"]
        n = _NUMERALS.get(raw)
        n = float(raw) if n is None else n
        unit = m["u"]
        if unit in ("个月", "月"):
            return now - timedelta(days=30 * n)
        if unit == "年":
            return now - timedelta(days=365 * n)
        return now - timedelta(**{_UNITS[unit]: n})
    m = _DAY_WORD.search(text)
    if m:
        back = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2}[m["w"]]
        day = (now - timedelta(days=back)).date()
        return _build(day.year, day.month, day.day, _hour(m), now.tzinfo)
    return None


def parse_datetime(text: str | None, tz: str | tzinfo = "Asia/Shanghai",
                   now: datetime | None = None) -> datetime | None:
    """Read a date/time as printed on a page; a timezone-aware UTC datetime, or None.

    ``tz`` is the zone of times that carry no offset; ``now`` (default: the current time) anchors
    relative forms (「3分钟前」「昨天 12:30」) and month-day forms without a year.
    """
    return parse_datetime_ex(text, tz, now)[0]


def parse_datetime_ex(text: str | None, tz: str | tzinfo = "Asia/Shanghai",
                      now: datetime | None = None) -> tuple[datetime | None, bool]:
    """Like :func:`parse_datetime`, and whether the text was relative to ``now``.

    ``(datetime, True)`` for 「刚刚」「3小时前」「昨天 12:30」「前天」 and the like (rounded down to
    the minute): such a date moves each time the page is read.  ``(None, False)`` when the text
    cannot be read.
    """
    if text is None:
        return None, False
    try:
        parsed, relative = _parse(str(text), _zone(tz), now)
    except Exception:  # noqa: BLE001 - never raise: the caller counts an unparsed date
        log.debug("date parse failed for %r", text, exc_info=True)
        return None, False
    if parsed is None:
        return None, False
    if relative:
        parsed = parsed.replace(second=0, microsecond=0)
    return parsed, relative


def is_relative(text: str | None, tz: str | tzinfo = "Asia/Shanghai") -> bool:
    """True when ``text`` is a readable date relative to the time of reading (「3小时前」)."""
    return parse_datetime_ex(text, tz)[1]


def _parse(text: str, zone: tzinfo, now: datetime | None) -> tuple[datetime | None, bool]:
    """(UTC datetime or None, relative?)."""
    text = _clean(text)
    if not text or len(text) > 200:
        return None, False
    now = (now or datetime.now(zone))
    now = now.replace(tzinfo=zone) if now.tzinfo is None else now.astimezone(zone)
    if _EPOCH.match(text):
        value = int(text) / (1000 if len(text) == 13 else 1)
        return datetime.fromtimestamp(value, timezone.utc), False
    if _RFC822.match(text):
        try:
            parsed = parsedate_to_datetime(text)
            parsed = parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed
            return parsed.astimezone(timezone.utc), False
        except (TypeError, ValueError, IndexError):
            pass
    m = _ISO.search(text)
    if m:
        result = _build(int(m["y"]), int(m["mo"]), int(m["d"]), _hour(m),
                        _offset(m["tz"]) or zone)
        return (result.astimezone(timezone.utc) if result else None), False
    result = _relative(text, now)
    if result is not None:
        return result.astimezone(timezone.utc), True
    m = _MONTH_DAY.search(text)
    if m:
        result = _build(now.year, int(m["mo"]), int(m["d"]), _hour(m), zone)
        if result is not None and result > now:
            result = _build(now.year - 1, int(m["mo"]), int(m["d"]), _hour(m), zone)
        if result is not None:
            return result.astimezone(timezone.utc), False
    result = _dateparser(text, zone, now)
    # 「上周」「去年」「5 days ago」: without a four-digit year, what dateparser reads depends on now
    return result, result is not None and not _YEAR.search(text)


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
