"""Per-document rule types (match, threshold, new_term) and unanswered on working days."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from alerts.ruletypes import make
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


def _message(published: datetime, *, replied=False, department="教育局", **kw):
    return make_document(f"留言 {published.isoformat()} {department} {replied}",
                         title="反映问题",
                         channel="board", kind="message", published_at=published,
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
