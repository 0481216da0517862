"""Aggregation: an aggregating rule's firing notices go per channel as one digest per period.

Real SQLite state database, log channels writing JSON lines, a loopback WeCom robot and webhook
(tests/receivers.py), a hand-moved clock (nothing sleeps)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from alerts.aggregation import period_end
from alerts.channels.log import LogChannel
from alerts.channels.webhook import WebhookChannel
from alerts.channels.wecom import WeComChannel
from alerts.lifecycle import Alerts, Firing
from clocks import T0, Clock, log_channels, logged
from alerts.message import AlertDoc
from alerts.outbox import Outbox
from alerts.secrets import Secret
from alerts.tables import alert_deliveries, alerts as alerts_table
from monitor.state import StateDB
from receivers import Receiver

SH = timezone(timedelta(hours=8))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class World:
    """A state database file, channels and a clock; ``open()`` builds Outbox + Alerts on them
    (again after a "restart")."""

    def __init__(self, tmp_path, extra=()):
        self.tmp, self.clock, self.extra = tmp_path, Clock(), list(extra)
        self.open()

    def open(self):
        engine = StateDB(f"sqlite:///{self.tmp / 'state.db'}").engine
        channels = log_channels(self.tmp)
        channels.update({c.name: c for c in self.extra})
        self.box = Outbox(engine, channels, clock=self.clock, rng=random.Random(3))
        self.book = Alerts(self.box, flap_changes=4, flap_window=1800)
        return self

    def sent(self, channel: str = "duty") -> list[dict]:
        """Every message delivered to a log channel so far (after delivering what is due)."""
        return logged(self.box, self.tmp, channel)


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def firing(place: str, **kw) -> Firing:
    base = dict(rule="burst", group={"place": place}, severity="warning",
                title=f"{place}话题升温", reason="10 分钟内 5 条", channels=["duty"], count=5,
                rule_name="聚集性舆情", aggregate=600.0)
    return Firing(**{**base, **kw})


# -- the period ---------------------------------------------------------------------------------

def test_periods_are_aligned_on_the_office_midnight_with_an_inclusive_start():
    ten = datetime(2026, 12, 1, 10, 3, tzinfo=SH)
    assert period_end(ten, 600) == datetime(2026, 12, 1, 10, 10, tzinfo=SH)
    # a notice on a boundary belongs to the period that starts there
    assert period_end(datetime(2026, 12, 1, 10, 10, tzinfo=SH), 600) == \
        datetime(2026, 12, 1, 10, 20, tzinfo=SH)
    # 7 minutes do not divide a day: the last period is cut at the local midnight
    late = datetime(2026, 12, 1, 23, 58, tzinfo=SH)
    assert period_end(late, 420) == datetime(2026, 12, 2, 0, 0, tzinfo=SH)
    # aligned on the office's midnight, not UTC's (8 h = 480 min is not a multiple of 7)
    assert period_end(ten, 420) == datetime(2026, 12, 1, 10, 9, tzinfo=SH)
    assert period_end(ten, 420, "UTC") != period_end(ten, 420)
    # a day or more: one period per local day
    assert period_end(ten, 3 * 86400) == datetime(2026, 12, 2, 0, 0, tzinfo=SH)


# -- digests ------------------------------------------------------------------------------------

def test_firing_notices_are_held_then_go_per_channel_as_one_digest_at_the_period_end(world):
    for minute, place in ((1, "城关镇"), (4, "河口乡"), (9.99, "新桥镇")):
        world.clock.at(minute)
        world.book.fire(firing(place, channels=["duty", "chief"]))
    world.clock.at(9.99)
    assert world.sent("duty") == [] and world.sent("chief") == []
    held = world.box.deliveries()
    assert {d.held for d in held} == {"aggregation"} and len(held) == 6
    assert {d.next_at for d in held} == {at(10)} and world.box.next_due() == at(10)
    world.clock.at(10)
    for channel in ("duty", "chief"):
        [digest] = world.sent(channel)
        assert digest["kind"] == "digest" and digest["count"] == 3
        assert [p["group"]["place"] for p in digest["parts"]] == ["城关镇", "河口乡", "新桥镇"]
        assert digest["title"].startswith("聚集性舆情：3 条")
        assert digest["window"] == [at(0).isoformat(), at(10).isoformat()]
        rows = [d for d in world.box.deliveries() if d.channel == channel]
        assert {d.state for d in rows} == {"sent"}
        assert {d.digest_id for d in rows} == {digest["alert_id"]}


def test_aggregation_on_a_cron_sends_one_digest_at_each_time_in_the_office_zone(world):
    # 10:00 Shanghai; digests at 09:00 and 17:00 local: the next one is at 17:00 (09:00 UTC)
    for minute, place in ((5, "城关镇"), (200, "河口乡")):
        world.clock.at(minute)
        world.book.fire(firing(place, aggregate=0.0, aggregate_cron="0 9,17 * * *"))
    assert {d.next_at for d in world.box.deliveries()} == {at(7 * 60)}
    world.clock.at(7 * 60 - 1)
    assert world.sent() == []
    world.clock.at(7 * 60)
    [digest] = world.sent()
    assert digest["kind"] == "digest" and digest["count"] == 2


def test_aggregation_cron_is_checked_when_the_rule_loads(tmp_path):
    import tomllib
    from alerts.rules import parse_rule
    from monitor.errors import ConfigError

    base = 'type = "match"\nquery = "学校"\n'
    assert parse_rule(tomllib.loads(base + 'aggregation_cron = "0 9,17 * * *"'),
                      tmp_path / "r.toml").aggregation_cron == "0 9,17 * * *"
    with pytest.raises(ConfigError, match="aggregation_cron"):
        parse_rule(tomllib.loads(base + 'aggregation_cron = "0 25 * * *"'), tmp_path / "r.toml")
    with pytest.raises(ConfigError, match="not both"):
        parse_rule(tomllib.loads(base + 'aggregation_cron = "0 9 * * *"\n'
                                 'aggregation_minutes = 10'), tmp_path / "r.toml")


def test_a_notice_on_the_boundary_waits_for_the_next_period_and_a_lone_one_goes_as_itself(world):
    world.clock.at(10)
    world.book.fire(firing("城关镇"))
    assert world.sent() == []
    world.clock.at(19.99)
    assert world.sent() == []
    world.clock.at(20)
    [alone] = world.sent()
    assert alone["kind"] == "firing" and alone["group"] == {"place": "城关镇"}
    assert [d.digest_id for d in world.box.deliveries()] == [None]


def test_the_top_severity_is_never_held(world):
    world.clock.at(1)
    world.book.fire(firing("城关镇", severity="critical"))
    world.book.fire(firing("河口乡"))
    assert [(m["kind"], m["severity"]) for m in world.sent()] == [("firing", "critical")]
    world.clock.at(10)
    assert [m["kind"] for m in world.sent()] == ["firing", "firing"]  # the lone warning


def test_a_rule_without_aggregation_is_not_held(world):
    world.clock.at(1)
    world.book.fire(firing("城关镇", aggregate=0.0))
    assert [m["kind"] for m in world.sent()] == ["firing"]


def test_the_resolved_notice_of_an_alert_told_in_a_digest_still_goes(world):
    world.clock.at(1)
    one = world.book.fire(firing("城关镇"))
    world.book.fire(firing("河口乡"))
    world.clock.at(10)
    assert [m["kind"] for m in world.sent()] == ["digest"]
    world.clock.at(12)
    world.book.clear("burst", {"place": "城关镇"})
    sent = world.sent()
    assert [m["kind"] for m in sent] == ["digest", "resolved"]  # at once, not held
    assert sent[1]["alert_id"] == one.id


def test_an_alert_that_clears_before_its_digest_goes_is_told_in_the_digest_fired_and_resolved(
        world):
    world.clock.at(1)
    one = world.book.fire(firing("城关镇"))
    world.book.fire(firing("河口乡"))
    world.clock.at(5)
    world.book.clear("burst", {"place": "城关镇"})
    assert world.sent() == []  # the all-clear does not overtake the firing notice
    world.clock.at(10)
    [digest] = world.sent()
    assert [(p["alert_id"], p["kind"]) for p in digest["parts"]] == [
        (one.id, "firing"), (digest["parts"][1]["alert_id"], "firing"), (one.id, "resolved")]


def test_restart_in_the_middle_of_a_period_keeps_the_held_notices_and_sends_on_time(tmp_path):
    world = World(tmp_path)
    world.clock.at(2)
    world.book.fire(firing("城关镇"))
    world.book.fire(firing("河口乡"))
    world.clock.at(5)
    world.open()  # a new process on the same state database
    world.book.fire(firing("新桥镇"))
    assert world.box.next_due() == at(10)
    world.clock.at(9.5)
    assert world.sent() == [] and world.book.tick() == []
    world.clock.at(10)
    [digest] = world.sent()
    assert sorted(p["group"]["place"] for p in digest["parts"]) == ["城关镇", "新桥镇", "河口乡"]


def test_the_escalation_clock_starts_when_the_digest_goes(world):
    world.clock.at(1)
    alert = world.book.fire(firing("城关镇", escalation=[["chief"]], escalate_after=900))
    assert alert.escalation["due_at"] == at(25).isoformat()
    world.clock.at(24)
    assert world.book.tick() == []
    world.clock.at(25)
    assert world.book.tick() == [f"{alert.id}: escalated"]
    assert [m["kind"] for m in world.sent("chief")] == ["escalation"]


def test_the_flapping_notice_of_an_aggregating_rule_waits_for_the_period_too(world):
    place = {"place": "城关镇"}
    for minute in (1, 2, 3):
        world.clock.at(minute)
        if minute % 2:
            world.book.fire(firing("城关镇"))
        else:
            world.book.clear("burst", place)
    world.clock.at(4)
    world.book.clear("burst", place)  # the fourth change: flapping
    assert world.sent() == []
    world.clock.at(10)
    [digest] = world.sent()
    assert digest["parts"][-1]["title"].startswith("【反复波动】")


def test_a_failed_digest_is_retried_as_one(tmp_path):
    with Receiver() as rx:
        hook = WebhookChannel("hook", {"url": rx.url("webhook"), "timeout": 2.0})
        world = World(tmp_path, [hook])
        world.clock.at(1)
        for place in ("城关镇", "河口乡", "新桥镇"):
            world.book.fire(firing(place, channels=["hook"]))
        rx.behave("status:500", times=1)
        world.clock.at(10)
        assert world.box.deliver_due().retried == 3
        rows = world.box.deliveries()
        assert len({d.next_at for d in rows}) == 1  # one wait: due together again
        world.clock.now = rows[0].next_at
        assert world.box.deliver_due().sent == 3
        bodies = [r.json for r in rx.received]
        assert [len(b["parts"]) for b in bodies] == [3, 3]
        # the same notice id both times (raised at the period's end): a receiver drops a repeat
        assert bodies[0]["notice_id"] == bodies[1]["notice_id"]
        assert bodies[0]["notice_id"].endswith(f"/digest/{int(at(10).timestamp())}")
        assert {d.digest_id for d in world.box.deliveries()} == {bodies[1]["alert_id"]}


def test_a_batch_takes_one_slot_of_the_pace_and_counts_as_one_send_of_a_round(tmp_path):
    paced = LogChannel("paced", {"file": str(tmp_path / "paced.jsonl"), "max_per_minute": 2})
    world = World(tmp_path, [paced])
    world.clock.at(1)
    for place in ("城关镇", "河口乡", "新桥镇"):
        world.book.fire(firing(place, channels=["paced"]))
    world.book.fire(firing("东关镇", severity="critical", channels=["paced"]))
    world.clock.at(10)
    assert world.box.deliver_due(limit=2).sent == 4
    sent = world.sent("paced")
    assert [m["kind"] for m in sent] == ["firing", "digest"]
    assert sent[1]["title"].startswith("聚集性舆情：3 条")  # the rule's digest, not a burst's


def test_a_digest_beyond_the_channels_size_limit_is_shortened_and_accepted(tmp_path):
    with Receiver() as rx:
        robot = WeComChannel("wecom", {"webhook": Secret(rx.url("wecom")), "timeout": 2.0})
        world = World(tmp_path, [robot])
        world.clock.at(1)
        for i in range(60):
            docs = [AlertDoc(title=f"第{i}镇围墙倒塌事件持续发酵第{k}条", source="县论坛",
                             channel="forum", url=f"https://bbs.example/t/{i}/{k}",
                             snippet="现场视频显示围墙整体向外倒塌" * 10, risk=0.5)
                    for k in range(3)]
            world.book.fire(firing(f"第{i}镇", channels=["wecom"], documents=docs,
                                   link="https://monitor.example/alerts"))
        world.clock.at(10)
        world.box.deliver_due()
        assert rx.received and all(r.accepted for r in rx.received)
        assert all(len(r.text.encode("utf-8")) <= 4096 for r in rx.received)
        rows = world.box.deliveries()
        assert len(rows) == 60 and {d.state for d in rows} == {"sent"}
        assert len({d.digest_id for d in rows}) == 1 and rows[0].digest_id


def test_tables_made_before_aggregation_get_the_new_columns(tmp_path):
    world = World(tmp_path)
    with world.box.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE alert_deliveries DROP COLUMN batch")
        conn.exec_driver_sql("ALTER TABLE alerts DROP COLUMN aggregate_seconds")
        conn.exec_driver_sql("ALTER TABLE alerts DROP COLUMN sources")
    world.open()
    world.clock.at(1)
    world.book.fire(firing("城关镇"))
    with world.box.engine.connect() as conn:
        assert conn.execute(select(alert_deliveries.c.batch)).scalar().startswith("aggregate/")
        assert conn.execute(select(alerts_table.c.aggregate_seconds)).scalar() == 600.0
