"""Per-document rule types (match, threshold, new_term) and unanswered on working days."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.ruletypes import make
from alerts.ruletypes._common import event_time
from monitor.documents import Reply
from monitor.store import StoreConfig
from monitor.store.embedded import EmbeddedStore
from monitor.testing import make_document
from monitor.workdays import WorkCalendar
from rules_helpers import NOW, UTC, at, rule


@pytest.fixture
def store(tmp_path):
    with EmbeddedStore(StoreConfig(path=tmp_path / "docs.db")) as st:
        yield st


MATCH = 'type = "match"\nquery = "学校"\nterms = ["围墙", "食堂"]\n'


@pytest.mark.parametrize("text, expected", [
    ("县一中学校围墙倒塌", True),
    ("学校食堂饭菜变质", True),
    ("学校放假通知", False),          # no watch-list term
    ("围墙倒塌", False),              # no query word
    ("ＸＸ学校，围 墙", True),        # full width, punctuation and spaces ignored
])
def test_match_per_document(text, expected):
    assert make(rule(MATCH)).matches(make_document(text)) is expected


def test_match_query_syntax_or_and_exclusion():
    m = make(rule('type = "match"\nquery = "停水 OR 停电 -演练"\n'))
    assert m.matches(make_document("小区停电三天"))
    assert not m.matches(make_document("停电应急演练"))
    assert not m.matches(make_document("小区噪音"))


def test_match_filters_and_own_channels():
    text = MATCH + '[filters]\nchannels = ["social"]\nmin_risk = 0.5\nnegative = true\n'
    m = make(rule(text))
    doc = make_document("学校围墙倒塌", risk=0.6, analysis={"sentiment": 0.1})
    assert m.matches(doc)
    doc.own = True  # the office's own channel: skipped
    assert not m.matches(doc)
    assert make(rule(text + "include_own = true\n")).matches(doc)
    assert not m.matches(make_document("学校围墙倒塌", risk=0.4, analysis={"sentiment": 0.1}))
    assert not m.matches(make_document("学校围墙倒塌", risk=0.6, analysis={"sentiment": 0.9}))
    assert not m.matches(make_document("学校围墙倒塌", risk=0.6))  # not analysed
    assert not m.matches(make_document("学校围墙倒塌", risk=0.6, channel="news",
                                       analysis={"sentiment": 0.1}))


def test_match_places_departments_filters():
    m = make(rule(MATCH + '[filters]\nplaces = ["城关镇"]\ndepartments = ["教育局"]\n'))
    assert m.matches(make_document("学校围墙", place="城关镇", department="教育局"))
    assert not m.matches(make_document("学校围墙", place="河口乡", department="教育局"))
    assert not m.matches(make_document("学校围墙", place="城关镇"))


def test_threshold_at_or_above():
    t = make(rule('type = "threshold"\nrisk = 0.7\n'))
    assert t.matches(make_document("x", risk=0.7)) and t.matches(make_document("x", risk=0.9))
    assert not t.matches(make_document("x", risk=0.69)) and not t.matches(make_document("x"))
    assert "0.70 ≥ 0.7" in t.reason(make_document("x", risk=0.7))


def test_match_and_threshold_evaluate_agree_with_matches(store):
    docs = [at(5, "学校围墙倒塌", risk=0.9), at(6, "学校食堂", risk=0.2),
            at(7, "学校放假", risk=0.95), at(8, "学校围墙", own=True, risk=0.99),
            at(90, "学校围墙", risk=0.9)]
    store.put_many(docs)
    m = make(rule(MATCH))
    got = {f.documents[0] for f in m.evaluate(store, NOW)}
    assert got == {d.id for d in docs[:4] if m.matches(d) and d.published_at >= NOW - timedelta(
        hours=1)} == {docs[0].id, docs[1].id}
    t = make(rule('type = "threshold"\nrisk = 0.9\n'))
    assert {f.documents[0] for f in t.evaluate(store, NOW)} == {docs[0].id, docs[2].id}


NEW = ('type = "new_term"\nfield = "place"\nhistory_days = 7\nwindow_minutes = 60\n')


def test_new_term_learns_history_then_fires_once_per_new_value(store):
    store.put_many([at(60 * 24 * 3, place="城关镇"), at(60 * 24 * 8, place="远山村"),
                    at(30, place="城关镇"), at(20, place="河口乡"),
                    at(10, place="河口乡")])
    nt = make(rule(NEW))
    state: dict = {}
    firings = nt.evaluate(store, NOW, state=state)
    # 城关镇 was learned from the 7-day history; 远山村 is older than it and not learned
    assert "城关镇" in state["values"] and "远山村" not in state["values"]
    assert "河口乡" in state["values"]
    assert [f.group["place"] for f in firings] == ["河口乡"]
    assert len(firings[0].documents) == 2 and "河口乡" in firings[0].reason
    # the state is a plain dict: kept and given back, nothing fires again
    assert nt.evaluate(store, NOW + timedelta(minutes=5), state=state) == []
    # per document: a new value fires once, a known one never
    assert nt.observe(make_document("x", place="城关镇", published_at=NOW), state) is None
    f = nt.observe(make_document("y", place="新店镇", published_at=NOW), state)
    assert f.group == {"place": "新店镇"}
    assert nt.observe(make_document("z", place="新店镇", published_at=NOW), state) is None


def test_new_term_author_field_is_grouped_outside_the_store(store):
    store.put_many([at(600, author="老王"), at(5, author="老王"), at(6, author="小李")])
    firings = make(rule(NEW.replace('"place"', '"author"'))).evaluate(store, NOW, state={})
    assert [f.group for f in firings] == [{"author": "小李"}]


def _message(published: datetime, *, replied=False, department="教育局", channel="board", **kw):
    return make_document(f"留言 {published.isoformat()} {department} {replied} {sorted(kw.items())}",
                         title="反映问题",
                         channel=channel, kind="message", published_at=published,
                         crawled_at=published, department=department,
                         reply=Reply("已答复", replied_at=published) if replied else None,
                         status="replied" if replied else "pending", **kw)


UNANSWERED = 'type = "unanswered"\nworkdays = 3\ngroup_by = ["department"]\n'


def test_unanswered_counts_working_days_over_a_holiday(store):
    cal = WorkCalendar()
    came = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # Wed 10:00 Shanghai, before National Day
    due = cal.add_workdays(came, 3)
    assert due.last_day > date(2026, 10, 7)  # the holiday week is not counted
    store.put_many([_message(came), _message(came, replied=True),
                    _message(came, department="住建局", own=True)])
    u = make(rule(UNANSWERED))
    # Monday–Friday alone would make it late on 2026-10-06; the calendar does not
    assert u.evaluate(store, datetime(2026, 10, 6, 1, 0, tzinfo=UTC), calendar=cal) == []
    assert u.evaluate(store, due.due - timedelta(seconds=1), calendar=cal) == []
    [f] = u.evaluate(store, due.due, calendar=cal)  # at the due time it is late
    assert f.group == {"department": "教育局"} and f.count == 1
    assert "超过 3 个工作日未答复" in f.reason and "周一至周五" not in f.reason
    out = u.evaluate(store, due.due, calendar=cal, active={(("department", "住建局"),)})
    assert [(x.group["department"], x.resolved) for x in out] == [("教育局", False),
                                                                   ("住建局", True)]


def test_unanswered_fallback_year_is_carried_in_the_reason(store, tmp_path):
    cal = WorkCalendar.load(tmp_path, use_package=False)  # no schedule at all: Mon–Fri
    came = datetime(2030, 3, 4, 2, 0, tzinfo=UTC)
    store.put_many([_message(came)])
    [f] = make(rule(UNANSWERED)).evaluate(store, came + timedelta(days=10), calendar=cal)
    assert "2030 年无节假日安排，按周一至周五计算" in f.reason


def test_document_without_title_or_time_is_matched_on_text_and_crawl_time():
    from monitor.documents import Document

    doc = Document.new("s", "social", "https://example.invalid/x", text="学校围墙倒塌",
                       crawled_at=NOW)
    m = make(rule(MATCH))
    assert m.matches(doc)
    f = m.firing(doc)
    assert f.window[0] == NOW and f.documents == [doc.id] and "学校围墙倒塌" in f.reason


# -- unanswered counted in the store: the same firings as reading every message ------------

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _local(y, m, d, hh=0, mm=0, ss=0, us=0):
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=SHANGHAI).astimezone(UTC)


def _late_corpus(first: date, days: int) -> list:
    """Messages on every day from ``first``: at 00:00, 09:30 and 23:59:59.999999 office time,
    in three departments (and none), two places, two channels; some answered, some own."""
    out, i = [], 0
    for k in range(days):
        d = first + timedelta(days=k)
        for when in (_local(d.year, d.month, d.day), _local(d.year, d.month, d.day, 9, 30),
                     _local(d.year, d.month, d.day, 23, 59, 59, 999_999)):
            i += 1
            dept = ("教育局", "住建局", "交通局", None)[i % 4]
            out.append(_message(when, department=dept, replied=i % 5 == 0, own=i % 11 == 0,
                                place=("城关镇", "河口乡")[i % 2],
                                channel=("board", "hotline")[i % 3 == 0]))
    return out


UNANSWERED_RULES = [
    UNANSWERED,
    'type = "unanswered"\nworkdays = 5\n',
    'type = "unanswered"\nworkdays = 1\ngroup_by = ["place"]\ntop = 3\n',
    'type = "unanswered"\nworkdays = 3\ngroup_by = ["channel"]\n'
    '[filters]\nplaces = ["城关镇"]\ninclude_own = true\n',
    'type = "unanswered"\nworkdays = 2\ngroup_by = ["department"]\nquery = "留言"\n'
    '[filters]\ndepartments = ["教育局", "住建局"]\nchannels = ["board"]\n',
]


def _both_ways(store, text, now, cal, monkeypatch, active=()):
    """The firings of the store path (which must not read messages one by one) and those of
    the scan (forced by finding no cutoff)."""
    from alerts.ruletypes import perdoc

    counted = make(rule(text))
    with monkeypatch.context() as m:
        m.setattr(perdoc, "scan", lambda *a, **k: pytest.fail("the store path scanned"))
        got = counted.evaluate(store, now, calendar=cal, active=active)
    scanned = make(rule(text))
    monkeypatch.setattr(scanned, "_cutoff", lambda *a: None)
    return got, scanned.evaluate(store, now, calendar=cal, active=active)


def test_unanswered_counted_in_the_store_fires_as_the_scan_over_national_day(store, monkeypatch):
    cal = WorkCalendar()
    docs = _late_corpus(date(2026, 9, 18), 40)
    store.put_many(docs)
    instants = [_local(2026, 9, 20) + timedelta(hours=7 * k) for k in range(130)]
    for d in docs[::7]:  # every deadline edge: just before, at, just after 24:00
        due = cal.add_workdays(event_time(d), 3).due
        instants += [due - timedelta(microseconds=1), due, due + timedelta(microseconds=1)]
    fired = 0
    for text in UNANSWERED_RULES:
        active = set()
        for now in sorted(instants):
            got, want = _both_ways(store, text, now, cal, monkeypatch, active)
            assert got == want, (text, now)
            active = {f.key for f in got if not f.resolved}
            fired += len(active)
    assert fired > 1000  # the instants do see late messages


def test_unanswered_late_at_the_24_00_after_the_last_working_day(store, monkeypatch):
    cal = WorkCalendar()
    # 2026-09-29 23:59:59.999999 and 2026-09-30 00:00 are different days with different due
    # dates: after National Day (1–7 Oct) the third working day of one is Fri 9 Oct, that of
    # the other the make-up Saturday 10 Oct
    before = _message(_local(2026, 9, 29, 23, 59, 59, 999_999), department="教育局")
    after = _message(_local(2026, 9, 30), department="教育局")
    store.put_many([before, after])
    due_before, due_after = (cal.add_workdays(event_time(d), 3).due for d in (before, after))
    assert due_before.astimezone(SHANGHAI) == datetime(2026, 10, 10, tzinfo=SHANGHAI)
    assert due_after.astimezone(SHANGHAI) == datetime(2026, 10, 11, tzinfo=SHANGHAI)
    for now, late in ((due_before - timedelta(microseconds=1), []), (due_before, [before]),
                      (due_after - timedelta(microseconds=1), [before]),
                      (due_after, [before, after])):
        got, want = _both_ways(store, UNANSWERED, now, cal, monkeypatch)
        assert got == want
        assert [(f.count, f.documents) for f in got] == (
            [(len(late), [d.id for d in late])] if late else [])
        if late:
            assert got[0].window == (event_time(before), now)


def test_unanswered_fallback_note_names_only_years_a_deadline_counted(store, monkeypatch):
    cal = WorkCalendar()  # the package knows holidays up to 2026: 2027 is Monday–Friday
    early = _message(_local(2026, 11, 30, 9), department=None)  # in no group, yet the oldest
    store.put_many([early, _message(_local(2026, 12, 1, 9), department="教育局")])
    now = _local(2027, 1, 6, 9)
    got, want = _both_ways(store, UNANSWERED, now, cal, monkeypatch)
    assert got == want and len(got) == 1
    assert got[0].window == (event_time(early), now)
    assert "周一至周五" not in got[0].reason  # 2027 is in the window, in no deadline
    # a message whose count runs into 2027 (31 Dec 2026, then 1 and 4 Jan 2027), even one
    # without a department, brings the note to every group
    store.put_many([_message(_local(2026, 12, 30, 9), department=None)])
    got, want = _both_ways(store, UNANSWERED, now, cal, monkeypatch)
    assert got == want and [f.count for f in got] == [1]
    assert "（2027 年无节假日安排，按周一至周五计算）" in got[0].reason
    # nothing late at all: resolutions only, the same both ways
    got, want = _both_ways(store, UNANSWERED, _local(2026, 12, 3), cal, monkeypatch,
                           active={(("department", "教育局"),)})
    assert got == want and [f.resolved for f in got] == [True]


def test_unanswered_groups_it_cannot_filter_by_still_scan(store, monkeypatch):
    from alerts.ruletypes import perdoc

    came = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    store.put_many([_message(came, author="王先生"), _message(came, author="李女士"),
                    _message(came, department="住建局", author="王先生")])
    read = []
    real = perdoc.scan
    monkeypatch.setattr(perdoc, "scan", lambda *a, **k: read.append(1) or real(*a, **k))
    text = 'type = "unanswered"\nworkdays = 3\ngroup_by = ["author"]\n'
    firings = make(rule(text)).evaluate(store, NOW, calendar=WorkCalendar())
    assert read and {f.group["author"]: f.count for f in firings} == {"王先生": 2, "李女士": 1}


def test_unanswered_year_end_message_counts_only_the_next_year(store, tmp_path, monkeypatch):
    cal = WorkCalendar.load(tmp_path, use_package=False)  # every year Monday–Friday
    # came on 31 Dec 2029: its working days are all in 2030, so only 2030 is named; a message
    # with an empty department is late but in no group
    store.put_many([_message(_local(2029, 12, 31, 9)),
                    _message(_local(2029, 12, 31, 10), department="")])
    got, want = _both_ways(store, UNANSWERED, _local(2030, 1, 20), cal, monkeypatch)
    assert got == want and [(f.group, f.count) for f in got] == [({"department": "教育局"}, 1)]
    assert "（2030 年无节假日安排，按周一至周五计算）" in got[0].reason
