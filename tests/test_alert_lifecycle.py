"""Alert lifecycle and noise control: real SQLite, log channels writing JSON lines, a hand clock."""
from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from alerts.lifecycle import Alerts, Firing, alert_id
from clocks import T0, Clock, log_channels, log_lines
from alerts.outbox import Outbox
from alerts.tables import alerts as alerts_table
from monitor.state import StateDB, crawl_runs

PLACE = {"place": "城关镇"}


@pytest.fixture
def world(tmp_path):
    clock = Clock()
    engine = StateDB(f"sqlite:///{tmp_path / 'state.db'}").engine
    channels = log_channels(tmp_path, ("duty", "chief", "director"))
    box = Outbox(engine, channels, clock=clock, rng=random.Random(1))
    book = Alerts(box, flap_changes=4, flap_window=1800)
    book.tmp = tmp_path
    return book, clock


def got(book: Alerts, channel: str = "duty") -> list[tuple[str, str]]:
    """(kind, notice id) of everything delivered to a channel, after delivering what is due."""
    return [(line["message"]["kind"], line["notice_id"])
            for line in log_lines(book.outbox, book.tmp, channel)]


def firing(**kw) -> Firing:
    base = dict(rule="school-wall", group=PLACE, severity="warning", title="校园墙话题升温",
                reason="1 小时内 12 条", channels=["duty"], count=12)
    return Firing(**{**base, **kw})


def test_alert_id_is_stable_and_tells_episodes_apart():
    a = alert_id("school-wall", {"place": "城关镇", "source": "x"}, T0)
    assert a == alert_id("school-wall", {"source": "x", "place": "城关镇"}, T0)
    assert a != alert_id("school-wall", {"place": "河西镇", "source": "x"}, T0)
    assert a != alert_id("school-wall", {"place": "城关镇", "source": "x"}, T0 + timedelta(1))
    assert a.startswith("school-wall-") and a.endswith("-20261201T020000Z")
    assert alert_id("规则 一", {}, T0).startswith("____-")  # ids stay ASCII for receivers


def test_fire_twice_is_one_alert_one_notice_then_resolved_notice(world):
    book, clock = world
    first = book.fire(firing())
    again = book.fire(firing(), now=clock.at(5))
    assert again.id == first.id and again.fire_count == 2 and again.state == "firing"
    assert [k for k, _ in got(book)] == ["firing"]
    done = book.clear("school-wall", PLACE, now=clock.at(20))
    assert done.state == "resolved" and done.resolved_by == "rule"
    assert [k for k, _ in got(book)] == ["firing", "resolved"]
    ids = [n for _, n in got(book)]
    assert len(set(ids)) == 2 and all(n.startswith(first.id + "/") for n in ids)
    actions = [t["action"] for t in book.transitions(first.id)]
    assert actions == ["fired", "notified", "fired", "resolve"]


def test_firing_joins_the_rule_state_transaction(world):
    book, _ = world
    with pytest.raises(RuntimeError):
        with book.engine.begin() as conn:
            conn.execute(insert(crawl_runs).values(source="x", started_at=T0, status="ok"))
            book.fire(firing(), conn=conn)
            raise RuntimeError("rule state could not be saved")
    assert book.list() == [] and book.outbox.deliveries() == []
    with book.engine.begin() as conn:
        book.fire(firing(), conn=conn)
    assert len(book.list()) == 1 and len(book.outbox.deliveries()) == 1
    assert book.list()[0].message["timezone"] == "Asia/Shanghai"


def test_ack_and_resolve_keep_who_when_and_comment(world):
    book, clock = world
    alert = book.fire(firing())
    acked = book.ack(alert.id, "王科长", "已转宣传科核实", now=clock.at(3))
    assert (acked.state, acked.acked_by, acked.acked_at, acked.ack_comment) == \
        ("acknowledged", "王科长", clock.at(3), "已转宣传科核实")
    with pytest.raises(ValueError, match="it is acknowledged"):
        book.ack(alert.id, "李四")
    back = book.unack(alert.id, "王科长", "误点", now=clock.at(4))
    assert back.state == "firing"
    done = book.resolve(alert.id, "李主任", "已发布澄清", now=clock.at(9))
    assert (done.state, done.resolved_by, done.resolve_comment) == ("resolved", "李主任",
                                                                   "已发布澄清")
    trail = [(t["action"], t["from_state"], t["to_state"], t["actor"], t["comment"])
             for t in book.transitions(alert.id)]
    assert ("ack", "firing", "acknowledged", "王科长", "已转宣传科核实") in trail
    assert ("unack", "acknowledged", "firing", "王科长", "误点") in trail
    assert trail[-1] == ("resolve", "firing", "resolved", "李主任", "已发布澄清")
    assert [k for k, _ in got(book)] == ["firing", "resolved"]
    with pytest.raises(LookupError):
        book.ack("nope", "x")


def test_realert_holds_a_new_firing_notice_then_sends_it_if_still_firing(world):
    book, clock = world
    book.fire(firing(realert=600))
    book.clear("school-wall", PLACE, now=clock.at(2))
    second = book.fire(firing(realert=600), now=clock.at(4))  # within 10 minutes: no notice
    assert second.state == "firing" and not second.notified
    assert [k for k, _ in got(book)] == ["firing", "resolved"]
    assert book.tick(clock.at(9.9)) == []
    assert book.tick(clock.at(10)) == [f"{second.id}: notice sent (held before)"]
    assert [k for k, _ in got(book)] == ["firing", "resolved", "firing"]


def test_realert_held_alert_that_clears_sends_nothing(world):
    book, clock = world
    book = Alerts(book.outbox, flap_changes=10)  # four changes here: not flapping
    book.tmp = world[0].tmp
    book.fire(firing(realert=600))
    book.clear("school-wall", PLACE, now=clock.at(1))
    book.fire(firing(realert=600), now=clock.at(2))
    book.clear("school-wall", PLACE, now=clock.at(3))  # never told: no resolved notice either
    book.tick(clock.at(30))
    assert [k for k, _ in got(book)] == ["firing", "resolved"]


def test_silence_by_group_with_expiry_and_reason(world):
    book, clock = world
    with pytest.raises(ValueError, match="reason"):
        book.silence("school-wall", PLACE, seconds=60, reason=" ")
    sid = book.silence("school-wall", PLACE, seconds=3600, reason="已知事件，处置中", by="王科长")
    quiet = book.fire(firing())
    book.fire(firing(count=30), now=clock.at(30))  # the latest count is what is told later
    other = book.fire(firing(group={"place": "河西镇"}))
    assert not quiet.notified and other.notified  # a group's silence leaves the others alone
    assert [s["id"] for s in book.silences()] == [sid]
    book.tick(clock.at(59))
    assert len(got(book)) == 1
    assert book.tick(clock.at(60)) == [f"{quiet.id}: notice sent (held before)"]
    assert book.silences() == []
    assert len(got(book)) == 2
    lines = (book.tmp / "duty.jsonl").read_text(encoding="utf-8").splitlines()
    told = json.loads(lines[-1])["message"]
    assert (told["alert_id"], told["count"]) == (quiet.id, 30)


def test_a_silence_never_stops_the_all_clear_of_an_alert_people_were_told_of(world):
    book, clock = world
    book.fire(firing())
    book.silence("school-wall", None, seconds=3600, reason="处置中", now=clock.at(1))
    book.clear("school-wall", PLACE, now=clock.at(2))
    assert [k for k, _ in got(book)] == ["firing", "resolved"]


def test_rule_wide_silence_and_unsilence(world):
    book, clock = world
    sid = book.silence("school-wall", None, seconds=7200, reason="演练")
    book.fire(firing())
    book.fire(firing(group={"place": "河西镇"}))
    assert got(book) == []
    assert book.unsilence(sid, now=clock.at(1)) is True
    book.tick(clock.at(1))
    assert len(got(book)) == 2


def test_flapping_is_one_alert_and_one_notice_until_it_settles(world):
    book, clock = world  # 4 changes within 30 minutes = flapping
    first = book.fire(firing())                               # change 1
    book.clear("school-wall", PLACE, now=clock.at(1))         # change 2: resolved
    second = book.fire(firing(), now=clock.at(2))             # change 3: a new alert
    held = book.clear("school-wall", PLACE, now=clock.at(3))  # change 4: flapping, not resolved
    assert held.id == second.id and held.state == "flapping"
    for minute in range(4, 12):                               # the stream that follows
        if minute % 2:
            book.clear("school-wall", PLACE, now=clock.at(minute))
        else:
            assert book.fire(firing(), now=clock.at(minute)).id == second.id
    kinds = [k for k, _ in got(book)]
    assert kinds == ["firing", "resolved", "firing", "firing"]  # the last one: 【反复波动】
    lines = (book.tmp / "duty.jsonl").read_text(encoding="utf-8").splitlines()
    assert "反复波动" in json.loads(lines[-1])["message"]["title"]
    assert len(book.list()) == 2 and first.id != second.id
    assert book.tick(clock.at(11 + 29)) == []                 # still within 30 min of a change
    assert book.tick(clock.at(11 + 30)) == [f"{second.id}: stopped flapping, resolved"]
    assert [k for k, _ in got(book)][-1] == "resolved"
    assert book.get(second.id).state == "resolved"


def test_a_change_exactly_one_window_old_no_longer_counts_toward_flapping(world):
    book, clock = world  # 4 changes within 30 minutes = flapping
    book.fire(firing())
    book.clear("school-wall", PLACE, now=clock.at(1))
    book.fire(firing(), now=clock.at(2))
    assert book.clear("school-wall", PLACE, now=clock.at(30)).state == "resolved"  # 3 count
    # changes at 1, 2, 30 and 30.5 minutes: four within 30 minutes, the new alert opens flapping
    assert book.fire(firing(), now=clock.at(30.5)).state == "flapping"


def test_escalation_follows_the_chain_until_acknowledged(world):
    book, clock = world
    alert = book.fire(firing(escalation=[["chief"], ["director"]], escalate_after=900))
    assert book.tick(clock.at(14)) == []
    assert book.tick(clock.at(15)) == [f"{alert.id}: escalated"]
    assert [k for k, _ in got(book, "chief")] == ["escalation"]
    assert [k for k, _ in got(book, "duty")] == ["firing", "escalation"]  # re-sent
    book.ack(alert.id, "张主任", "收到", now=clock.at(20))
    assert book.tick(clock.at(60)) == []                      # acknowledged: no further step
    assert got(book, "director") == []
    book.resolve(alert.id, "张主任", now=clock.at(61))
    assert [k for k, _ in got(book, "chief")] == ["escalation", "resolved"]


def test_escalation_reaches_the_last_step_and_stops(world):
    book, clock = world
    alert = book.fire(firing(escalation=[["chief"], ["director"]], escalate_after=600))
    book.tick(clock.at(10))
    book.tick(clock.at(20))
    assert book.tick(clock.at(90)) == []
    assert [k for k, _ in got(book, "director")] == ["escalation"]
    assert book.get(alert.id).escalation["step"] == 2


def test_each_escalation_step_waits_its_own_time(world):
    book, clock = world
    alert = book.fire(firing(escalation=[["chief"], ["director"]], escalate_after=600,
                             escalate_steps=[600, 1800]))
    assert book.tick(clock.at(10)) == [f"{alert.id}: escalated"]  # 10 min: the first step
    assert book.tick(clock.at(30)) == []                          # the second waits 30 min
    assert book.tick(clock.at(40)) == [f"{alert.id}: escalated"]
    assert [k for k, _ in got(book, "director")] == ["escalation"]


def test_state_survives_a_restart(world, tmp_path):
    book, clock = world
    alert = book.fire(firing(realert=600))
    book.ack(alert.id, "王科长", now=clock.at(1))
    again = Alerts(Outbox(book.engine, book.outbox.channels, clock=clock), flap_changes=4)
    assert again.get(alert.id).acked_by == "王科长"
    assert again.fire(firing(realert=600), now=clock.at(2)).id == alert.id
    with book.engine.connect() as conn:
        assert conn.execute(select(alerts_table.c.fire_count)).scalar() == 2
