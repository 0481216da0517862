"""The working-day calendar: the real 2026 schedule (chinesecalendar), config years, local closures,
the Monday–Friday fallback with its warning, bad files, time zones and the counting rule."""
from __future__ import annotations

import random
import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.errors import ConfigError
from monitor.workdays import Deadline, WorkCalendar, load_calendar, parse_calendar_file

SH = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parents[1]

# A test-made 2027 calendar (NOT the official schedule, which was not published when this was
# written): enough to show that a supplied year replaces the Monday–Friday fallback.
TEST_2027 = """\
source = "test calendar (not the official 2027 schedule)"
holidays = [
  { name = "元旦", from = 2027-01-01, to = 2027-01-03 },
  { name = "春节", from = 2027-02-05, to = 2027-02-12 },
]
workdays = [{ name = "春节调休", date = 2027-02-13 }]
"""


def at(y, mo, d, h=10, mi=0, tz=SH) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz)


def write(folder: Path, name: str, text: str) -> Path:
    (folder / "calendars").mkdir(parents=True, exist_ok=True)
    path = folder / "calendars" / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


# -- the real 2026 schedule, through the package ------------------------------------------------

def test_national_day_and_mid_autumn_2026(cal):
    off = [d.date for d in cal.non_working_days(date(2026, 9, 19), date(2026, 10, 11))]
    expected = [date(2026, 9, 19)] + [date(2026, 9, x) for x in (25, 26, 27)] + [
        date(2026, 10, x) for x in range(1, 8)] + [date(2026, 10, 11)]
    assert off == expected
    assert cal.day(date(2026, 9, 25)).name == "中秋节"
    assert cal.day(date(2026, 10, 5)).kind == "holiday" and cal.day(date(2026, 10, 5)).name == "国庆节"
    for makeup in (date(2026, 9, 20), date(2026, 10, 10)):  # a Sunday and a Saturday worked
        assert cal.is_workday(makeup) and cal.day(makeup).kind == "makeup"
    # 依申请公开, 15 working days from Thursday 2026-09-24: the day of receipt is not counted
    d = cal.add_workdays(at(2026, 9, 24, 16, 45), 15)
    assert d.last_day == date(2026, 10, 22)
    assert d.due == datetime(2026, 10, 22, 16, 0, tzinfo=timezone.utc)  # 24:00 Beijing time
    assert str(d) == "2026-10-22 24:00 Asia/Shanghai" and d.fallback_years == ()
    assert cal.warnings == []


def test_spring_festival_2026_with_its_makeup_saturdays(cal):
    assert cal.is_workday(date(2026, 2, 14)) and cal.is_workday(date(2026, 2, 28))
    assert not any(cal.is_workday(date(2026, 2, x)) for x in range(15, 24))
    assert cal.is_workday(date(2026, 2, 24))
    start = at(2026, 2, 13, 17, 0)  # Friday before the holiday
    assert [cal.add_workdays(start, n).last_day for n in (1, 2, 5, 6, 7)] == [
        date(2026, 2, 14), date(2026, 2, 24), date(2026, 2, 27), date(2026, 2, 28),
        date(2026, 3, 2)]
    assert cal.next_workday(date(2026, 2, 14)) == date(2026, 2, 24)
    assert cal.workdays_between(date(2026, 2, 13), date(2026, 3, 2)) == 7
    assert cal.workdays_between(date(2026, 3, 2), date(2026, 2, 13)) == -7


def test_next_workday_across_national_day(cal):
    assert cal.next_workday(date(2026, 9, 30)) == date(2026, 10, 8)
    assert cal.next_workday(date(2026, 10, 9)) == date(2026, 10, 10)  # 调休 Saturday
    assert cal.next_workday(date(2026, 10, 8), inclusive=True) == date(2026, 10, 8)
    assert cal.next_workday(date(2026, 10, 3), inclusive=True) == date(2026, 10, 8)


def test_press_conference_filing_days(cal):
    conference = at(2026, 10, 9, 9, 30)  # Friday after 国庆节
    d3 = cal.subtract_workdays(conference, 3)  # in the government's name
    assert d3.last_day == date(2026, 9, 28) and str(d3) == "2026-09-28 24:00 Asia/Shanghai"
    # three whole working days between filing and conference, neither counted
    assert cal.workdays_between(d3.last_day, date(2026, 10, 8)) == 3
    d5 = cal.subtract_workdays(conference, 5)  # a department's: 中秋 is skipped too
    assert d5.last_day == date(2026, 9, 23)
    assert cal.subtract_workdays(conference, 3, count_event_day=True).last_day == date(2026, 9, 29)
    assert not d3.is_overdue(at(2026, 9, 28, 23, 59)) and d3.is_overdue(at(2026, 9, 29, 0, 0))


# -- 2026 → 2027: the fallback, and a supplied year ---------------------------------------------

def test_deadline_into_2027_without_a_calendar_falls_back_with_a_warning(tmp_path):
    seen = []
    cal = WorkCalendar.load(tmp_path, on_warning=seen.append)
    d = cal.add_workdays(at(2026, 12, 21), 15)
    assert d.last_day == date(2027, 1, 11)  # 1 January counted as a working day
    assert d.fallback_years == (2027,) and d.fallback
    assert str(d).endswith("(counted Monday–Friday in 2027: no holiday schedule)")
    assert len(seen) == 1 and seen == cal.warnings
    assert seen[0].startswith("2027: counted Monday–Friday")
    assert "chinesecalendar 1.11.0 knows 2004–2026" in seen[0]
    assert str(tmp_path / "calendars" / "2027.toml") in seen[0]
    assert cal.day(date(2027, 1, 1)).fallback
    cal.add_workdays(at(2026, 12, 28), 10)
    assert len(seen) == 1  # once per year, not once per deadline
    # a deadline that stays inside 2026 is not marked
    assert cal.add_workdays(at(2026, 12, 1), 5).fallback_years == ()
    assert cal.fallback_years(date(2026, 12, 1), date(2027, 3, 1)) == [2027]


def test_deadline_into_2027_with_a_supplied_calendar(tmp_path):
    write(tmp_path, "2027.toml", TEST_2027)
    seen = []
    cal = WorkCalendar.load(tmp_path, on_warning=seen.append)
    d = cal.add_workdays(at(2026, 12, 21), 15)
    assert d.last_day == date(2027, 1, 12) and d.fallback_years == ()
    assert seen == [] and cal.warnings == []
    assert cal.is_workday(date(2027, 2, 13)) and not cal.is_workday(date(2027, 2, 8))
    assert cal.year(2027).origin == "config" and "test calendar" in cal.year(2027).source
    assert cal.fallback_years(date(2026, 12, 1), date(2027, 3, 1)) == []


def test_shipped_2027_template_is_not_loaded(tmp_path):
    cal = WorkCalendar.load(REPO / "config")
    assert 2027 not in cal.files and "template" in cal.skipped[2027]
    d = cal.add_workdays(at(2026, 12, 21), 15)
    assert d.fallback_years == (2027,)
    assert len(cal.warnings) == 1 and "2027.toml is still a template" in cal.warnings[0]
    assert parse_calendar_file(REPO / "config" / "calendars" / "2027.toml") is None


def test_a_year_before_the_package_also_falls_back(cal):
    d = cal.add_workdays(at(2003, 12, 30), 2)
    assert d.last_day == date(2004, 1, 2) and d.fallback_years == (2003,)  # 2004-01-01 元旦
    assert cal.year(2003).origin == "fallback" and cal.year(2004).origin == "package"


# -- config beats the package; local closures -------------------------------------------------

def test_local_closure_day_on_top_of_the_package(tmp_path):
    write(tmp_path, "2026.toml", 'source = "县政府通知（测试）"\n'
          'closures = [{ name = "本县民族节日", date = 2026-10-12 }]\n')
    cal = WorkCalendar.load(tmp_path)
    closure = cal.day(date(2026, 10, 12))
    assert not closure.workday and closure.kind == "closure" and closure.name == "本县民族节日"
    assert cal.year(2026).origin == "package"  # national holidays still come from the package
    assert not cal.is_workday(date(2026, 10, 1)) and cal.is_workday(date(2026, 10, 10))
    assert cal.add_workdays(at(2026, 9, 24), 15).last_day == date(2026, 10, 23)  # one day later
    assert WorkCalendar().add_workdays(at(2026, 9, 24), 15).last_day == date(2026, 10, 22)


def test_config_holidays_replace_the_package_for_that_year(tmp_path):
    write(tmp_path, "2026.toml", 'source = "local copy (test)"\n'
          'holidays = [{ name = "国庆节", from = 2026-10-01, to = 2026-10-07 }]\n')
    cal = WorkCalendar.load(tmp_path)
    assert cal.year(2026).origin == "config"
    assert cal.is_workday(date(2026, 9, 25))  # not in the file: the package's 中秋 is not used
    assert not cal.is_workday(date(2026, 10, 10))  # nor its 调休 Saturday
    assert not cal.is_workday(date(2026, 10, 2))


# -- bad files --------------------------------------------------------------------------------

BAD = [
    ('source = "x"\nholidays = ["2027-02-30"]\n', r"\[holidays\]: item 1: not a date: '2027-02-30'"),
    ('source = "x"\nholidays = [2027-01-01, { from = 2027-02-01, to = 2026-02-03 }]\n',
     r"\[holidays\]: item 2: 2026-02-03 is not in 2027; 2027.toml holds 2027 only"),
    ('source = "x"\nholidays = [{ from = 2027-02-05, to = 2027-02-12 }]\nworkdays = [2027-02-06]\n',
     r"\[workdays\]: item 1: 2027-02-06 is also in holidays \(item 1\)"),
    ('source = "x"\nclosures = [2027-03-06]\nworkdays = ["2027-03-06"]\n',
     r"\[workdays\]: item 1: 2027-03-06 is also in closures"),
    ('source = "x"\nholiday = [2027-01-01]\n', r"unknown key 'holiday'; did you mean 'holidays'\?"),
    ('source = "x"\nholidays = [{ form = 2027-01-01, to = 2027-01-02 }]\n',
     r"\[holidays\]: item 1: unknown key 'form'; did you mean 'from'\?"),
    ('source = "x"\nholidays = [2027-01-01]\nworkdays = [2027-02-10]\n',
     r"\[workdays\]: item 1: 2027-02-10 is a weekday"),
    ('holidays = [2027-01-01]\n', r"\[source\]: missing or empty"),
    ('source = "x"\nholidays = []\n', r"\[holidays\]: empty"),
    ('source = "x"\nyear = 2026\nholidays = [2027-01-01]\n', r"\[year\]: says 2026"),
    ('source = "x"\nholidays = [{ from = 2027-02-12, to = 2027-02-05 }]\n', r"is after to"),
    ('source = "x"\nholidays = [2027-01-01T08:00:00]\n', r"has a time of day"),
    ('source = "x"\nholidays = [20270101]\n', r"not a date: 20270101"),
    ('source = "x"\nholidays = "2027-01-01"\n', r"\[holidays\]: expected a list"),
    ('template = "yes"\n', r"\[template\]: expected true or false"),
    ('source = "x"\nholidays = [2027-01-01\n', r"not valid TOML"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_calendar_file_names_the_file_and_key(tmp_path, text, message):
    path = write(tmp_path, "2027.toml", text)
    with pytest.raises(ConfigError) as err:
        WorkCalendar.load(tmp_path)
    assert str(err.value).startswith(str(path))
    assert re.search(message, str(err.value)), str(err.value)


def test_a_file_not_named_after_a_year(tmp_path):
    path = write(tmp_path, "holidays.toml", 'source = "x"\n')
    write(tmp_path, "notes.md", "ignored: not a .toml file\n")
    with pytest.raises(ConfigError, match="named after its year") as err:
        WorkCalendar.load(tmp_path)
    assert err.value.path == path


def test_lenient_load_skips_a_bad_file_and_warns(tmp_path):
    write(tmp_path, "2027.toml", 'source = "x"\nholidays = ["2027-13-01"]\n')
    write(tmp_path, "2026.toml", 'source = "x"\nclosures = [2026-10-12]\n')
    cal = WorkCalendar.load(tmp_path, strict=False)
    assert len(cal.errors) == 1 and "2027.toml" in str(cal.errors[0])
    assert cal.warnings[0].startswith("calendar file not used: ")
    assert not cal.is_workday(date(2026, 10, 12))  # the good file is still used
    d = cal.add_workdays(at(2026, 12, 28), 5)
    assert d.fallback_years == (2027,) and "has an error" in cal.warnings[-1]


def test_the_docs_example_is_a_valid_file(tmp_path):
    text = (REPO / "docs" / "calendars.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    write(tmp_path, "2030.toml", example)
    cal = load_calendar(tmp_path)
    assert cal.day(date(2030, 2, 5)).name == "春节" and cal.is_workday(date(2030, 1, 26))
    assert cal.day(date(2030, 7, 15)).kind == "closure"


# -- time zones and the counting rule -----------------------------------------------------------

def test_local_date_decides_not_the_utc_date(cal):
    received = datetime(2026, 10, 8, 16, 30, tzinfo=timezone.utc)  # 2026-10-09 00:30 in Beijing
    d = cal.add_workdays(received, 1)
    assert d.last_day == date(2026, 10, 10)  # the day after Friday the 9th: the 调休 Saturday
    assert d.local == datetime(2026, 10, 11, 0, 0, tzinfo=SH)
    assert d.due.utcoffset() == timedelta(0) and d.local.utcoffset() == timedelta(hours=8)
    assert cal.add_workdays(received, 1, tz="UTC").last_day == date(2026, 10, 9)
    with pytest.raises(ValueError, match="naive"):
        cal.add_workdays(datetime(2026, 10, 8, 9, 0), 1)


def test_end_of_day_in_a_zone_with_daylight_saving():
    cal = WorkCalendar(timezone="America/New_York", use_package=False)
    d = cal.add_workdays(datetime(2026, 3, 5, 12, 0, tzinfo=ZoneInfo("America/New_York")), 2)
    assert d.last_day == date(2026, 3, 9)  # across the 8 March clock change
    assert d.due == datetime(2026, 3, 10, 4, 0, tzinfo=timezone.utc)  # midnight EDT


def test_same_time_and_closing_time_options(cal):
    start = at(2026, 9, 24, 14, 30)
    assert cal.add_workdays(start, 15, until="same_time").local == at(2026, 10, 22, 14, 30)
    closing = cal.add_workdays(start, 15, until=time(17, 30))
    assert closing.due == datetime(2026, 10, 22, 9, 30, tzinfo=timezone.utc)
    assert str(closing) == "2026-10-22 17:30 Asia/Shanghai"
    assert cal.add_workdays(start, 0).last_day == date(2026, 9, 24)
    for bad in (-1, 10**6):
        with pytest.raises(ValueError):
            cal.add_workdays(start, bad)
    with pytest.raises(ValueError):
        cal.add_workdays(date(2026, 9, 24), 3, until="same_time")


def test_property_add_then_count_is_consistent(tmp_path):
    write(tmp_path, "2026.toml", 'source = "x"\nclosures = [2026-03-03, 2026-11-11]\n')
    cal = WorkCalendar.load(tmp_path)
    rng = random.Random(20261001)
    first = date(2025, 1, 1)
    for _ in range(300):
        start = datetime.combine(first + timedelta(days=rng.randrange(800)),
                                 time(rng.randrange(24), rng.randrange(60)), SH)
        n = rng.randrange(0, 40)
        d = cal.add_workdays(start, n)
        assert cal.workdays_between(start, d.last_day) == n
        assert cal.workdays_between(d.last_day, start) == -n
        if n:
            assert cal.is_workday(d.last_day)
            assert cal.workdays_between(start, d.last_day - timedelta(days=1)) == n - 1
        assert d.local.time() == time(0) and d.local.date() == d.last_day + timedelta(days=1)
        assert (2027 in d.fallback_years) == (d.last_day.year == 2027)
        back = cal.subtract_workdays(start, n)
        assert cal.is_workday(back.last_day) and back.last_day < start.date()
        assert cal.workdays_between(back.last_day, start.date() - timedelta(days=1)) == n
        assert cal.workdays_between(back.last_day, back.last_day) == 0


def test_deadline_is_a_plain_value():
    d = Deadline(datetime(2027, 1, 11, 16, 0, tzinfo=timezone.utc), date(2027, 1, 11),
                 fallback_years=(2027,))
    assert d.local == datetime(2027, 1, 12, 0, 0, tzinfo=SH) and d.fallback
    assert str(d).startswith("2027-01-11 24:00 Asia/Shanghai")
