"""Incidents (monitor/incidents.py): real SQLite, a real alert fired through the lifecycle, a hand
clock; every act and every refused attempt checked in the audit trail."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from alerts.lifecycle import Alerts, Firing
from alerts.message import AlertDoc
from alerts.outbox import Outbox
from clocks import T0, Clock, log_channels, run_together
from monitor import audit
from monitor.incidents import Incidents, NotFound, Refused
from monitor.state import StateDB

SH = ZoneInfo("Asia/Shanghai")
PEOPLE = ["张三", "王五", "周八"]


@pytest.fixture
def world(tmp_path):
    clock = Clock()
    engine = StateDB(f"sqlite:///{tmp_path / 'state.db'}").engine
    box = Outbox(engine, log_channels(tmp_path, ("duty",)), clock=clock, rng=random.Random(1))
    book = Alerts(box)
    return Incidents(engine, clock=clock, people=PEOPLE), book, clock


def trail(engine) -> list[audit.Entry]:
    return list(audit.entries(engine))


def fire_school_wall(book: Alerts, clock: Clock):
    docs = [AlertDoc(title="某校围墙倒塌？", source="weibo", channel="weibo",
                     url="https://example.com/post/1", published_at=T0),
            AlertDoc(title="围墙事件追问", source="board", channel="board",
                     url="https://example.com/board/7")]
    return book.fire(Firing(rule="school-wall", group={"place": "城关镇"}, severity="critical",
                            title="校园墙话题升温", reason="1 小时内 12 条", channels=["duty"],
                            count=12, documents=docs), now=clock.now)


def test_open_from_an_alert_takes_its_documents_and_first_firing(world):
    inc, book, clock = world
    alert = fire_school_wall(book, clock)
    clock.advance(minutes=40)
    book.fire(Firing(rule="school-wall", group={"place": "城关镇"}, severity="critical",
                     title="校园墙话题升温", reason="again", channels=["duty"]), now=clock.now)
    occurred = T0 - timedelta(hours=2)
    made = inc.open("城关镇学校围墙倒塌", by="张三", from_alert=alert.id, occurred_at=occurred)
    assert made.id == "INC-20261201-001"
    assert made.detected_at == T0 and made.occurred_at == occurred  # first firing, not the last
    assert made.confirmed_at is None and made.state == "open" and made.opened_by == "张三"
    links = [(x.kind, x.ref, x.note) for x in inc.links(made.id)]
    assert links == [("alert", alert.id, "校园墙话题升温"),
                     ("document", "https://example.com/post/1", "某校围墙倒塌？"),
                     ("document", "https://example.com/board/7", "围墙事件追问")]
    assert inc.get(made.id) == made


def test_ids_are_numbered_per_local_day(world):
    inc, _, clock = world
    clock.now = datetime(2026, 12, 1, 23, 50, tzinfo=SH)
    assert inc.open("一", by="张三").id == "INC-20261201-001"
    assert inc.open("二", by="张三").id == "INC-20261201-002"
    clock.now = datetime(2026, 12, 2, 0, 5, tzinfo=SH)  # 16:05 UTC of the 1st: a new local day
    assert inc.open("三", by="张三").id == "INC-20261202-001"
    assert [i.id for i in inc.list()] == ["INC-20261202-001", "INC-20261201-002",
                                         "INC-20261201-001"]


def test_three_times_kept_and_confirm_checked(world):
    inc, _, clock = world
    occurred, detected = T0 - timedelta(hours=3), T0 - timedelta(hours=1)
    made = inc.open("围墙", by="张三", occurred_at=occurred, detected_at=detected)
    with pytest.raises(Refused, match="before it was detected"):
        inc.confirm(made.id, detected - timedelta(minutes=1), by="王五")
    with pytest.raises(Refused, match="in the future"):
        inc.confirm(made.id, T0 + timedelta(minutes=1), by="王五")
    done = inc.confirm(made.id, T0 - timedelta(minutes=30), by="王五")
    assert (done.occurred_at, done.detected_at, done.confirmed_at) == (
        occurred, detected, T0 - timedelta(minutes=30))
    with pytest.raises(Refused, match="already confirmed"):
        inc.confirm(made.id, T0, by="王五")
    by_hand = inc.open("手工", by="张三")
    assert by_hand.detected_at == T0 and by_hand.occurred_at is None  # detected: when opened


def test_occurred_after_detected_and_naive_or_future_times_are_refused(world):
    inc, _, _ = world
    with pytest.raises(Refused, match="after it was detected"):
        inc.open("x", by="张三", occurred_at=T0 - timedelta(minutes=5),
                 detected_at=T0 - timedelta(minutes=10))
    with pytest.raises(Refused, match="no time zone"):
        inc.open("x", by="张三", occurred_at=datetime(2026, 12, 1, 9, 0))
    with pytest.raises(Refused, match="in the future"):
        inc.open("x", by="张三", occurred_at=T0 + timedelta(hours=1))
    assert inc.list(state="all") == []
    refused = trail(inc.engine)
    assert [(e.action, e.target, e.refused) for e in refused] == [("incident.open", "(new)",
                                                                    True)] * 3
    assert "after it was detected" in refused[0].reason and refused[0].actor == "张三"


def test_level_and_category_changes_recorded_with_who_and_why(world):
    inc, _, clock = world
    made = inc.open("围墙", by="张三", level="较大", why="初判")
    clock.advance(minutes=10)
    up = inc.set_level(made.id, "重大", by="王五", why="涉及学生伤亡传言")
    clock.advance(minutes=5)
    cat = inc.set_category(made.id, "虚假不实", by="周八", why="现场核实无人员伤亡")
    assert (up.level, cat.level, cat.category) == ("重大", "重大", "虚假不实")
    changes = [(e.kind, e.actor, e.at, e.data) for e in inc.timeline(made.id)
               if e.kind in ("level", "category")]
    assert changes == [
        ("level", "张三", T0, {"from": None, "to": "较大", "why": "初判"}),
        ("level", "王五", T0 + timedelta(minutes=10),
         {"from": "较大", "to": "重大", "why": "涉及学生伤亡传言"}),
        ("category", "周八", T0 + timedelta(minutes=15),
         {"from": None, "to": "虚假不实", "why": "现场核实无人员伤亡"})]
    rows = [(e.actor, e.action, e.before, e.after, e.reason, e.at) for e in trail(inc.engine)
            if e.action in ("incident.set_level", "incident.set_category")]
    assert rows == [
        ("张三", "incident.set_level", {"level": None}, {"level": "较大"}, "初判", T0),
        ("王五", "incident.set_level", {"level": "较大"}, {"level": "重大"}, "涉及学生伤亡传言",
         T0 + timedelta(minutes=10)),
        ("周八", "incident.set_category", {"category": None}, {"category": "虚假不实"},
         "现场核实无人员伤亡", T0 + timedelta(minutes=15))]
    assert all("title" not in (e.after or {}) for e in trail(inc.engine))  # no texts kept


def test_unknown_values_and_missing_reasons_are_refused_and_audited(world):
    inc, _, _ = world
    made = inc.open("围墙", by="张三")
    cases = [(lambda: inc.set_level(made.id, "特大", by="王五", why="x"), Refused,
              "unknown level '特大'; did you mean '特别重大'"),
             (lambda: inc.set_category(made.id, "谣言", by="王五", why="x"), Refused,
              "unknown category '谣言'"),
             (lambda: inc.set_level(made.id, "重大", by="王五", why="  "), Refused,
              "needs a reason"),
             (lambda: inc.set_level("INC-20990101-001", "重大", by="王五", why="x"), NotFound,
              "no incident 'INC-20990101-001'"),
             (lambda: inc.link(made.id, "alert", "no-such-alert", by="王五"), NotFound,
              "no alert 'no-such-alert'"),
             (lambda: inc.open("x", by="张三", level="重大"), Refused, "needs a reason")]
    for act, error, message in cases:
        with pytest.raises(error, match=message):
            act()
    assert inc.get(made.id).level is None
    refused = [(e.action, e.target, e.reason) for e in trail(inc.engine) if e.refused]
    assert [(a, t) for a, t, _ in refused] == [
        ("incident.set_level", made.id), ("incident.set_category", made.id),
        ("incident.set_level", made.id), ("incident.set_level", "INC-20990101-001"),
        ("incident.link", made.id), ("incident.open", "(new)")]
    assert all(message.split(";")[0] in reason
               for (_, _, reason), (_, _, message) in zip(refused, cases))


def test_unknown_person_is_refused_and_audited(world):
    inc, _, _ = world
    with pytest.raises(Refused, match="unknown person '张山': not a contact in org.toml "
                                      r"\(add them under \[contacts\]\); did you mean '张三'"):
        inc.open("围墙", by="张山")
    made = inc.open("围墙", by="张三")
    with pytest.raises(Refused, match="not a contact in org.toml"):
        inc.set_level(made.id, "重大", by="路人甲", why="x")
    with pytest.raises(Refused, match="who is acting"):
        inc.close(made.id, "结束", by="")
    rows = [(e.actor, e.action, e.target, e.refused) for e in trail(inc.engine)]
    assert rows == [("张山", "incident.open", "(new)", True),
                    ("张三", "incident.open", made.id, False),
                    ("路人甲", "incident.set_level", made.id, True),
                    ("(nobody)", "incident.close", made.id, True)]
    assert inc.get(made.id).level is None and inc.get(made.id).state == "open"


def test_nothing_changes_after_closing(world):
    inc, _, clock = world
    made = inc.open("围墙", by="张三", level="重大", why="初判")
    with pytest.raises(Refused, match="needs a summary"):
        inc.close(made.id, " ", by="王五")
    clock.advance(hours=30)
    closed = inc.close(made.id, "已发布通报，谣言已澄清", by="王五")
    assert (closed.state, closed.closed_by, closed.closed_at) == ("closed", "王五", clock.now)
    for act, what in [(lambda: inc.set_category(made.id, "虚假不实", by="周八", why="x"),
                       "its category"),
                      (lambda: inc.set_level(made.id, "一般", by="周八", why="x"), "its level"),
                      (lambda: inc.link(made.id, "document", "abc", by="周八"), "its links"),
                      (lambda: inc.close(made.id, "again", by="周八"), "it")]:
        with pytest.raises(Refused, match=f"was closed on 2026-12-02 16:00; {what} can no"):
            act()
    after = inc.get(made.id)
    assert (after.level, after.category, after.summary) == ("重大", None, "已发布通报，谣言已澄清")
    refused = [e for e in trail(inc.engine) if e.refused]
    assert [e.action for e in refused] == ["incident.close", "incident.set_category",
                                           "incident.set_level", "incident.link", "incident.close"]
    assert refused[1].after == {"category": "虚假不实", "why": "x"}  # what was attempted
    assert [i.id for i in inc.list(state="closed")] == [made.id] and inc.list() == []


def test_timeline_in_order_of_when_things_happened(world):
    inc, book, clock = world
    alert = fire_school_wall(book, clock)  # detected at T0
    clock.advance(minutes=20)
    made = inc.open("围墙", by="张三", from_alert=alert.id,
                    occurred_at=T0 - timedelta(minutes=90))
    clock.advance(minutes=10)
    inc.set_level(made.id, "重大", by="王五", why="升级")
    clock.advance(minutes=10)
    inc.confirm(made.id, T0 + timedelta(minutes=25), by="王五")  # before the level, recorded after
    clock.advance(minutes=5)
    inc.link(made.id, "document", "0123456789abcdef0123", by="周八", note="县教育局回应")
    clock.advance(minutes=5)
    inc.close(made.id, "处置完毕", by="王五")
    events = inc.timeline(made.id)
    assert [(e.kind, round((e.at - T0).total_seconds() / 60)) for e in events] == [
        ("occurred", -90), ("detected", 0), ("opened", 20), ("confirmed", 25), ("level", 30),
        ("linked", 45), ("closed", 50)]
    assert events[3].recorded_at == T0 + timedelta(minutes=40)  # recorded later than it happened
    assert events[1].text == f"detected: alert {alert.id} first fired"
    assert events[5].text == "linked document 0123456789abcdef0123: 县教育局回应"
    with pytest.raises(NotFound):
        inc.timeline("INC-20261201-999")


def test_link_an_alert_brings_its_documents_and_refuses_a_duplicate(world):
    inc, book, clock = world
    made = inc.open("围墙", by="张三", documents=["https://example.com/post/1"])
    alert = fire_school_wall(book, clock)
    added = inc.link(made.id, "alert", alert.id, by="王五")
    assert [(x.kind, x.ref) for x in added] == [("alert", alert.id),
                                               ("document", "https://example.com/board/7")]
    with pytest.raises(Refused, match="already linked"):
        inc.link(made.id, "alert", alert.id, by="王五")
    with pytest.raises(Refused, match="unknown link kind 'doc'"):
        inc.link(made.id, "doc", "x", by="王五")
    assert len(inc.links(made.id)) == 3


def test_every_act_is_audited_in_its_transaction(world):
    inc, _, clock = world
    made = inc.open("围墙", by="张三", jurisdiction="城关镇", unit="县教育局",
                    from_search="围墙 倒塌")
    inc.assign(made.id, unit="城关镇人民政府", by="王五", why="属地管理")
    inc.confirm(made.id, clock.now, by="王五")
    inc.close(made.id, "完毕", by="王五")
    rows = trail(inc.engine)
    assert [e.action for e in rows] == ["incident.open", "incident.assign", "incident.confirm",
                                        "incident.close"]
    assert rows[0].after["jurisdiction"] == "城关镇" and rows[0].after["links"] == [
        ["search", "围墙 倒塌"]]
    assert rows[1].before == {"responsible_unit": "县教育局"}
    assert inc.get(made.id).responsible_unit == "城关镇人民政府"
    assert [e.text for e in inc.timeline(made.id) if e.kind == "assigned"] == [
        "unit 县教育局 → 城关镇人民政府: 属地管理"]
    assert audit.verify(inc.engine) == []


def test_an_act_whose_audit_row_cannot_be_written_is_not_kept(world):
    inc, _, _ = world
    with inc.engine.begin() as conn:  # the audit trail refuses every new row
        conn.execute(text("CREATE TRIGGER audit_down BEFORE INSERT ON audit_log "
                          "BEGIN SELECT RAISE(ABORT, 'audit trail unavailable'); END"))
    with pytest.raises(Exception, match="audit trail unavailable"):
        inc.open("围墙", by="张三")
    with inc.engine.connect() as conn:
        counts = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("incidents", "incident_links", "incident_events")]
    assert counts == [0, 0, 0]


def test_a_router_fills_what_opening_does_not_say(world):
    _, _, clock = world
    inc = Incidents(world[0].engine, clock=clock,
                    router=lambda draft, links: ("城关镇", f"unit for {len(links)} link(s)"))
    routed = inc.open("围墙", by="anyone", documents=["a", "b"])
    assert (routed.jurisdiction, routed.responsible_unit) == ("城关镇", "unit for 2 link(s)")
    given = inc.open("围墙", by="anyone", unit="县教育局")
    assert (given.jurisdiction, given.responsible_unit) == ("城关镇", "县教育局")
    assert inc.get(routed.id).jurisdiction == "城关镇"


def test_times_are_stored_in_utc_and_come_back_aware(world):
    inc, _, _ = world
    local = datetime(2026, 12, 1, 8, 30, tzinfo=SH)
    made = inc.open("围墙", by="张三", occurred_at=local)
    back = inc.get(made.id)
    assert back.occurred_at == local and back.occurred_at.tzinfo == timezone.utc


CHILD = """
import sys, time
from pathlib import Path
from monitor.incidents import Incidents
from monitor.state import StateDB
url, name, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
desk = Incidents(StateDB(url).engine)
while not go.exists():
    time.sleep(0.01)
for i in range(count):
    desk.open(f"{name} {i}", by=name)
print("done")
"""


def test_two_processes_opening_at_once_get_distinct_ids(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    inc = Incidents(StateDB(url).engine)
    run_together(CHILD, url, ("甲", "乙"), 25, tmp_path / "go")
    made = inc.list(state="all")
    assert len(made) == 50 and len({i.id for i in made}) == 50
    days = {i.id[:12] for i in made}
    for day in days:  # numbered 001, 002 … without gaps within each local day
        numbers = sorted(int(i.id[13:]) for i in made if i.id.startswith(day))
        assert numbers == list(range(1, len(numbers) + 1))
    assert [e.action for e in audit.entries(inc.engine)] == ["incident.open"] * 50
    assert audit.verify(inc.engine) == []
