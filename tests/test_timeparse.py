"""monitor.timeparse: dates and times as Chinese pages print them, with an injected clock; and
the spiders' handling of what it reads (date-only and relative flags, counted warnings)."""
from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from monitor.config import SourceConfig, load_config
from monitor.crawl import run_crawls
from monitor.localsite import serve_directory
from monitor.starter import write_config
from monitor.timeparse import (ParsedTime, is_relative, parse_datetime, parse_datetime_ex,
                               parse_datetime_info)

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


# -- issue 6, defect 5: weekdays, 上午/下午 and 12-hour times, date-only results -------------------

LATER = datetime(2026, 11, 25, 10, 0, tzinfo=SH)  # a Wednesday, the day after 2026-11-24


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


NINE_THIRTY = utc(2026, 11, 24, 1, 30)  # 2026-11-24 09:30 in Asia/Shanghai


@pytest.mark.parametrize("text", [
    "2026年11月24日 星期二 09:30",  # the defect's own string
    "2026-11-24 (周二) 09:30",
    "2026年11月24日（周二） 09:30",
    "2026年11月24日 礼拜二 09:30",
    "2026年11月24日(二) 09:30",
    "2026年11月24日【周二】09:30",
    "2026-11-24, 星期二, 09:30",
    "2026-11-24 Tue 09:30",
    "2026-11-24 (Tuesday) 09:30",
    "2026-11-24 TUE. 09:30",
    "Tue 2026-11-24 09:30",
    "星期二 2026年11月24日 09:30",
    "2026-11-24 09:30 星期二",
    "2026年11月24日 周二 上午9点半",
    "2026年11月24日上午9点半",
    "2026.11.24 09:30",
    "2026/11/24 9:30 AM",
    "２０２６年１１月２４日　星期二　０９：３０",  # full-width digits, spaces and colon
    "２０２６-11-24 ０９:30",  # mixed widths
    "发布时间：2026-11-24 09:30 来源：新华网",
    "来源：新华网 发布时间：2026年11月24日 星期二 09:30",
    "【发布时间：2026-11-24 09:30】 浏览次数：35",
    "2026-11-24\u200b09:30",  # zero-width space
    "2026-11-24\x0009:30",  # a NUL between date and time
    "2026-11-24\t\n09:30",
    "2026-11-24 09:30+99:00",  # an impossible offset is ignored: local time
])
def test_weekday_annotated_and_labelled_forms(text):
    info = parse_datetime_info(text, now=LATER)
    assert info == ParsedTime(NINE_THIRTY, relative=False, date_only=False)
    assert parse_datetime(text, now=LATER) == NINE_THIRTY
    assert parse_datetime_ex(text, now=LATER) == (NINE_THIRTY, False)


@pytest.mark.parametrize("text, expected", [
    ("2026年11月24日 下午3点15分", utc(2026, 11, 24, 7, 15)),
    ("2026年11月24日 晚上8时", utc(2026, 11, 24, 12)),
    ("11月24日 星期二 下午3点", utc(2026, 11, 24, 7)),
    ("2026-11-24 9:30 PM", utc(2026, 11, 24, 13, 30)),
    ("2026-11-24 9:30 p.m.", utc(2026, 11, 24, 13, 30)),
    ("2026年11月24日 Tuesday 9:30 PM", utc(2026, 11, 24, 13, 30)),
    ("2026-11-24 12:30 AM", utc(2026, 11, 23, 16, 30)),  # 00:30 local
    ("2026-11-24 12:00 PM", utc(2026, 11, 24, 4)),  # noon
    ("2026-11-24 凌晨2点", utc(2026, 11, 23, 18)),
    ("2026-11-24 凌晨12点", utc(2026, 11, 23, 16)),
    ("2026-11-24 早上7点", utc(2026, 11, 23, 23)),
    ("2026-11-24 中午12点", utc(2026, 11, 24, 4)),
    ("2026-11-24 中午1点", utc(2026, 11, 24, 5)),
    ("2026-11-24 傍晚6点", utc(2026, 11, 24, 10)),
    ("2026-11-24 晚上12点", utc(2026, 11, 24, 16)),  # midnight at the end of the 24th
    ("2026-11-24 24:00", utc(2026, 11, 24, 16)),
    ("2026年11月24日 十点半", utc(2026, 11, 24, 2, 30)),
    ("2026年11月24日 下午三点一刻", utc(2026, 11, 24, 7, 15)),
    ("2026年11月24日 三点三刻", utc(2026, 11, 23, 19, 45)),
    ("2026年11月24日 二十时", utc(2026, 11, 24, 12)),
    ("2026年11月24日 10时许", utc(2026, 11, 24, 2)),
    ("2026/11/24 下午 03:15:20", utc(2026, 11, 24, 7, 15, 20)),
    ("2024-02-29 12:00", utc(2024, 2, 29, 4)),  # a real leap day
    ("2026-11-24 00:00", utc(2026, 11, 23, 16)),  # a printed midnight is a time
    ("11/24/2026 9:30 PM", utc(2026, 11, 24, 13, 30)),  # month/day/year: not 「11/24」 this year
])
def test_half_day_and_twelve_hour_times(text, expected):
    assert parse_datetime_info(text, now=LATER) == ParsedTime(expected, False, False)


@pytest.mark.parametrize("text, expected", [
    ("上午9点半", utc(2026, 11, 25, 1, 30)),  # the defect's own string: today 09:30
    ("9点半", utc(2026, 11, 25, 1, 30)),
    ("09:30", utc(2026, 11, 25, 1, 30)),
    ("发布于 09:30", utc(2026, 11, 25, 1, 30)),
    ("下午3点15分", utc(2026, 11, 24, 7, 15)),  # 15:15 is still ahead: yesterday's
    ("晚上8时", utc(2026, 11, 24, 12)),
    ("12:30", utc(2026, 11, 24, 4, 30)),
    ("十点", utc(2026, 11, 25, 2)),  # exactly now
    ("١٢:٣٠", utc(2026, 11, 24, 4, 30)),  # Arabic-Indic digits read as digits
])
def test_a_time_without_a_date_is_relative_to_today(text, expected):
    assert parse_datetime_info(text, now=LATER) == ParsedTime(expected, True, False)


MIDNIGHT_24 = utc(2026, 11, 23, 16)  # 2026-11-24 00:00 in Asia/Shanghai


@pytest.mark.parametrize("text, expected, relative", [
    ("2026年11月24日", MIDNIGHT_24, False),
    ("2026-11-24", MIDNIGHT_24, False),
    ("2026年11月24日（周二）", MIDNIGHT_24, False),
    ("2026-11-24 (二)", MIDNIGHT_24, False),
    ("发布时间：2026-11-24 来源：新华网", MIDNIGHT_24, False),
    ("2026-11-24 25:61", MIDNIGHT_24, False),  # a time that cannot be read: date kept, flagged
    ("2026-11-24 23:60", MIDNIGHT_24, False),
    ("2026-11-24 09:30:61", MIDNIGHT_24, False),
    ("2026-11-24 24:30", MIDNIGHT_24, False),
    ("2026年11月24日 10点击", MIDNIGHT_24, False),  # 点击 (clicks) is no time
    ("11-24", MIDNIGHT_24, False),
    ("11月24日", MIDNIGHT_24, False),
    ("Tue, 24 Nov 2026", MIDNIGHT_24, False),
    ("２０２６年１１月", utc(2026, 10, 31, 16), False),  # a month: its first day
    ("昨天", MIDNIGHT_24, True),
    ("今天 25:00", utc(2026, 11, 24, 16), True),
    ("3天前", utc(2026, 11, 22, 2), True),  # the reading time less three days
    ("2个月前", LATER - timedelta(days=60), True),
    ("上周", LATER - timedelta(weeks=1), True),
])
def test_date_only_results_are_flagged(text, expected, relative):
    assert parse_datetime_info(text, now=LATER) == ParsedTime(expected, relative, True)
    assert parse_datetime_ex(text, now=LATER) == (expected, relative)  # unchanged API


@pytest.mark.parametrize("text", [
    "2026-11-24 09:30", "2026-11-24T09:30:00+08:00", "1700000000", "3小时前", "刚刚",
    "Tue, 20 Jan 2026 00:00:00 +0800", "昨天 12:30", "11-20 10:30",
])
def test_dates_with_a_time_are_not_date_only(text):
    info = parse_datetime_info(text, now=LATER)
    assert info.value is not None and info.date_only is False


@pytest.mark.parametrize("text", [
    "2026年2月30日", "2026-02-29", "2026年13月1日", "25:61", "99999-01-01", "99999年1月1日",
    "0000-00-00", "-1700000000", "9999999999", "99999999999999999999天前", "x" * 10_000,
    "2026-11-24" + "x" * 10_000, "\x00\x01\x02\x7f", "\ufeff\u200b", "第3点", "共3点意见",
    "3点多", "点", "12345", "年月日星期", "(二)", "𝟸𝟶𝟸𝟼年𝟸月𝟹𝟶日",
])
def test_odd_and_impossible_inputs_give_none(text):
    assert parse_datetime_info(text, now=LATER) == ParsedTime(None, False, False)
    assert parse_datetime_ex(text, now=LATER) == (None, False)


@pytest.mark.parametrize("text", [
    "99999999999天前", "1000000周前", "99999999999小时前", "9" * 150 + "秒前", "10000年前",
    "200年前", "1e308秒前", "1E3分钟前", "-1天前", "+2天前", "10000-01-01", "10000-01-01 10:00",
    "发布时间：10000-01-01", "10000年1月1日", "１００００-０１-０１",
])
def test_absurd_relative_and_year_10000_dates_are_none_without_a_traceback(text, caplog):
    """Bounded before timedelta() overflows: no exception caught and logged at DEBUG (the
    hostile crawl counted 「99999999999天前」 and 「1000000周前」 as caught OverflowErrors), and
    no stray digits read (「1e308秒前」 is not 308 seconds ago, 「-1天前」 not yesterday)."""
    with caplog.at_level("DEBUG", logger="monitor.timeparse"):
        assert parse_datetime_info(text, now=LATER) == ParsedTime(None, False, False)
    assert not [r for r in caplog.records if r.exc_info], caplog.text[-500:]


@pytest.mark.parametrize("text, ago", [
    ("1.5小时前", timedelta(hours=1.5)), ("1.5天前", timedelta(days=1.5)),
    ("50年前", timedelta(days=50 * 365)), ("52周前", timedelta(weeks=52)),
])
def test_decimal_and_long_relative_dates_within_the_bound(text, ago):
    info = parse_datetime_info(text, now=LATER)
    assert info.relative and info.value == (LATER - ago).replace(second=0, microsecond=0)


def test_non_string_inputs_never_raise():
    assert parse_datetime_info(None) == ParsedTime(None)
    assert parse_datetime(20261124, now=LATER) is None  # an int is read as its text
    assert parse_datetime(1700000000) == utc(2023, 11, 14, 22, 13, 20)


def test_generated_inputs_never_raise_and_keep_the_contract():
    """Seeded mixtures of date pieces, noise and odd characters: never an exception; a value is
    UTC within 1970–2100, and an absolute date-only value is local midnight."""
    pieces = ["2026", "年", "11", "月", "24", "日", "-", "/", ".", " ", ":", "星期二", "(周二)",
              "上午", "下午", "晚上", "9", "点", "半", "30", "分", "PM", "99999", "00", "61",
              "\x00", "\u200b", "来源：", "发布时间：", "前", "天", "小时", "昨天", "Tue", "+08:00",
              "T", "Z", "十", "一刻", "٣", "２", "（", "）"]
    rng = random.Random(6)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        info = parse_datetime_info(text, now=LATER)
        assert parse_datetime_ex(text, now=LATER) == (info.value, info.relative), text
        if info.value is None:
            assert info == ParsedTime(None), text
            continue
        assert info.value.tzinfo == timezone.utc and 1970 <= info.value.year <= 2101, text
        if info.date_only and not info.relative:
            local = info.value.astimezone(SH)
            assert (local.hour, local.minute, local.second) == (0, 0, 0), text


def test_parsed_time_is_a_small_frozen_record():
    info = parse_datetime_info("2026-11-24", now=LATER)
    assert (info.value, info.relative, info.date_only) == (MIDNIGHT_24, False, True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.date_only = False  # type: ignore[misc]


# -- through a real crawl: the spider keeps the date, flags it and counts it --------------------

ARTICLE = ("<html><head><meta charset='utf-8'><title>{title}</title></head><body><h1>{title}</h1>"
           "<div class='time'>{when}</div><div class='content'><p>{title}。正文内容，用于测试日期。"
           "</p></div></body></html>")
LETTER = ("<html><head><meta charset='utf-8'></head><body><h1>{title}</h1><span class='t'>{when}"
          "</span><div class='q'>{title}，请尽快处理。</div><div class='r'>已转交相关部门办理。</div>"
          "<span class='rt'>{reply}</span></body></html>")
ARTICLES = {  # file → (title, printed date)
    "a1.html": ("县政府召开常务会议", "2026年11月24日 星期二 09:30"),
    "a2.html": ("县领导调研农业生产", "发布时间：2022-09-30 来源：县融媒体中心"),
    "a3.html": ("全县安全生产工作部署", "2026-11-24 25:61"),
    "a4.html": ("便民服务中心延长服务时间", "上午9点半"),
}
LETTERS = {  # file → (title, submitted, reply time)
    "l1.html": ("小区路灯不亮", "2026-11-24 (周二) 09:30", "2026年11月25日"),
    "l2.html": ("公交站台破损", "2026-11-20", "2026-11-21 下午3点15分"),
}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """Dry-run crawls of a four-article news list and a two-letter board on loopback."""
    root = tmp_path_factory.mktemp("dates_site")
    for name, (title, when) in ARTICLES.items():
        (root / name).write_text(ARTICLE.format(title=title, when=when), encoding="utf-8")
    for name, (title, when, reply) in LETTERS.items():
        (root / name).write_text(LETTER.format(title=title, when=when, reply=reply),
                                 encoding="utf-8")
    for listing, files in (("news.html", ARTICLES), ("board.html", LETTERS)):
        links = "".join(f"<li><a href='{name}'>{name}</a></li>" for name in files)
        (root / listing).write_text(f"<html><body><ul class='l'>{links}</ul></body></html>",
                                    encoding="utf-8")
    with serve_directory(root) as base:
        sources = [
            SourceConfig(id="dates-news", spider="news_list", channel="news",
                         url=f"{base}/news.html",
                         selectors={"links": "ul.l a::attr(href)", "title": "h1",
                                    "published": ".time", "content": "div.content"}),
            SourceConfig(id="dates-board", spider="message_board", channel="board",
                         url=f"{base}/board.html",
                         selectors={"links": "ul.l a", "title": "h1", "question": "div.q",
                                    "submitted": ".t", "reply": "div.r", "reply_time": ".rt"}),
        ]
        config_dir = tmp_path_factory.mktemp("cfg") / "config"
        write_config(config_dir, sources=sources, disabled=["sentiment_snownlp"])
        before = datetime.now(SH)
        results = run_crawls(load_config(config_dir), ["dates-news", "dates-board"],
                             dry_run=True, parallel=2, timeout=120)
        after = datetime.now(SH)
    return results, before, after


def test_crawl_keeps_times_and_flags_dates_without_one(crawled):
    (news, _board), before, after = crawled
    assert news.status == "ok", news.message + news.log_tail
    docs = {doc.title: doc for doc in news.items}
    assert sorted(docs) == sorted(title for title, _ in ARTICLES.values())
    meeting = docs["县政府召开常务会议"]
    assert meeting.published_at == NINE_THIRTY and meeting.extra == {}
    survey = docs["县领导调研农业生产"]
    assert survey.published_at == sh(2022, 9, 30) and survey.extra == {"date_only": True}
    safety = docs["全县安全生产工作部署"]  # 25:61 cannot be read: the date stays, flagged
    assert safety.published_at == sh(2026, 11, 24) and safety.extra == {"date_only": True}
    service = docs["便民服务中心延长服务时间"]  # a time alone: today's (or yesterday's) 09:30
    local = service.published_at.astimezone(SH)
    assert (local.hour, local.minute) == (9, 30)
    assert local.date() in {before.date(), (before - timedelta(days=1)).date(), after.date()}
    assert local <= after and service.extra == {"date_relative": True}
    report = news.report
    assert report["warnings"]["date without time"] == 2
    assert report["warnings"]["relative date"] == 1
    assert "unparsed date" not in report["warnings"]
    notes = [m for m in report["messages"] if "without time" in m]
    assert sorted(notes) == ["date without time: '2026-11-24 25:61'",
                             "date without time: '发布时间：2022-09-30 来源：县融媒体中心'"]


def test_crawl_flags_date_only_reply_dates_apart_from_the_submitted_date(crawled):
    (_news, board), _before, _after = crawled
    assert board.status == "ok", board.message + board.log_tail
    letters = {doc.title: doc for doc in board.items}
    lamp, stop = letters["小区路灯不亮"], letters["公交站台破损"]
    assert lamp.published_at == NINE_THIRTY
    assert lamp.reply.replied_at == sh(2026, 11, 25)
    assert lamp.extra == {"reply_date_only": True}
    assert stop.published_at == sh(2026, 11, 20)
    assert stop.reply.replied_at == sh(2026, 11, 21, 15, 15)
    assert stop.extra == {"date_only": True}
    assert board.report["warnings"]["date without time"] == 1
    assert board.report["warnings"]["reply date without time"] == 1
