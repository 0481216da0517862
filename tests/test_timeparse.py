"""monitor.timeparse: dates and times as Chinese pages print them, with an injected clock."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from monitor.timeparse import is_relative, parse_datetime, parse_datetime_ex

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=SH)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.mark.parametrize("text, expected", [
    ("2022-09-30", sh(2022, 9, 30)),
    ("2025-12-29 19:58:18", sh(2025, 12, 29, 19, 58, 18)),
    ("2019-09-09T20:52:38+08:00", sh(2019, 9, 9, 20, 52, 38)),
    ("2022-10-26T08:00:00Z", datetime(2022, 10, 26, 8, tzinfo=timezone.utc)),
    ("2019/5/17 20:02", sh(2019, 5, 17, 20, 2)),
    ("2022年9月27日", sh(2022, 9, 27)),
    ("2019年06月15日08:18\u00a0\u00a0来源：人民网", sh(2019, 6, 15, 8, 18)),
    ("2026年11月3日 下午3点", sh(2026, 11, 3, 15)),
    ("2026年11月3日 上午9点半", sh(2026, 11, 3, 9, 30)),
    ("2020年1月2日15时30分20秒", sh(2020, 1, 2, 15, 30, 20)),
    ("２０２６年１１月２０日", sh(2026, 11, 20)),  # full-width digits
    ("Tue, 20 Jan 2026 00:00:00 +0800", sh(2026, 1, 20)),
    ("Mon, 29 Dec 2025 19:58:18 +0000", datetime(2025, 12, 29, 19, 58, 18, tzinfo=timezone.utc)),
    ("发布时间：2026-11-20 09:30", sh(2026, 11, 20, 9, 30)),
    ("时间：2019-09-18 06:23", sh(2019, 9, 18, 6, 23)),
    ("来信日期： 2022-09-30", sh(2022, 9, 30)),
    ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)),
    ("1700000000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)),
])
def test_absolute_forms(text, expected):
    result = parse_datetime(text, now=NOW)
    assert result == expected
    assert result.tzinfo == timezone.utc  # always returned in UTC


@pytest.mark.parametrize("text, expected", [
    ("刚刚", NOW),
    ("3分钟前", NOW - timedelta(minutes=3)),
    ("2小时前", NOW - timedelta(hours=2)),
    ("半小时前", NOW - timedelta(minutes=30)),
    ("三天前", NOW - timedelta(days=3)),
    ("昨天 12:30", sh(2026, 11, 21, 12, 30)),
    ("今天 08:05", sh(2026, 11, 22, 8, 5)),
    ("前天", sh(2026, 11, 20)),
    ("11-20", sh(2026, 11, 20)),           # this year…
    ("12-01", sh(2025, 12, 1)),            # …or last year when this year's would be ahead
    ("11月20日 10:30", sh(2026, 11, 20, 10, 30)),
    ("11-22 11:00", sh(2025, 11, 22, 11)),  # an hour ahead of NOW: last year
])
def test_relative_and_yearless_forms(text, expected):
    assert parse_datetime(text, now=NOW) == expected


def test_naive_now_and_other_zone():
    naive_now = datetime(2026, 11, 22, 10, 0)
    assert parse_datetime("昨天 12:30", now=naive_now) == sh(2026, 11, 21, 12, 30)
    assert parse_datetime("2026-01-01 09:00", tz="UTC") == datetime(2026, 1, 1, 9,
                                                                   tzinfo=timezone.utc)
    # an unknown zone name falls back to Asia/Shanghai instead of raising
    assert parse_datetime("2026-01-01", tz="Mars/Olympus") == sh(2026, 1, 1)


@pytest.mark.parametrize("text", [
    None, "", "   ", "garbage", "没有日期", "2025-13-45", "2022-02-30", "1850-01-01",
    "99:99", "x" * 500, "年月日", "共3页",
])
def test_unreadable_gives_none_never_raises(text):
    assert parse_datetime(text, now=NOW) is None


def test_dateparser_fallback_is_used_for_other_wordings():
    # 「上周」「去年」 are not among the fast patterns; dateparser (languages=['zh']) reads them
    assert parse_datetime("上周", now=NOW) == NOW - timedelta(weeks=1)
    assert parse_datetime("去年", now=NOW) == sh(2025, 11, 22, 10)


@pytest.mark.parametrize("text, relative", [
    ("刚刚", True), ("3分钟前", True), ("2小时前", True), ("三天前", True), ("昨天 12:30", True),
    ("今天 08:05", True), ("前天", True), ("上周", True),
    ("2026-11-20 09:30", False), ("2022年9月27日", False), ("11-20", False),
    ("Tue, 20 Jan 2026 00:00:00 +0800", False), ("1700000000", False),
    ("garbage", False), ("", False), (None, False),
])
def test_relative_forms_are_flagged(text, relative):
    parsed, flagged = parse_datetime_ex(text, now=NOW)
    assert flagged is relative
    assert (parsed is not None) == (text not in ("garbage", "", None))
    assert parsed == parse_datetime(text, now=NOW)
    assert is_relative(text) is relative


def test_relative_results_are_rounded_to_the_minute():
    now = datetime(2026, 11, 22, 10, 7, 41, 123456, tzinfo=SH)
    assert parse_datetime_ex("3小时前", now=now) == (sh(2026, 11, 22, 7, 7), True)
    assert parse_datetime_ex("刚刚", now=now) == (sh(2026, 11, 22, 10, 7), True)
    assert parse_datetime("半分钟前", now=now) == sh(2026, 11, 22, 10, 7)
    # two readings seconds apart agree
    later = now + timedelta(seconds=15)
    assert parse_datetime("5分钟前", now=now) == parse_datetime("5分钟前", now=later)
    # an absolute time keeps its seconds
    assert parse_datetime_ex("2026-11-20 09:30:15", now=now) == (sh(2026, 11, 20, 9, 30, 15),
                                                                  False)
