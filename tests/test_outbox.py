"""The durable outbox against the loopback receiver: real SQLite, real HTTP, an injected clock."""
from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, insert, select, update

from alerts.channels.dingtalk import DingTalkChannel
from alerts.channels.webhook import WebhookChannel
from alerts.message import AlertMessage
from alerts.outbox import Outbox, QuietHours, RetryPolicy
from alerts.secrets import Secret
from alerts.tables import alert_deliveries, alert_notices, alerts
from monitor.state import StateDB, crawl_runs
from receivers import Receiver

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def note(i: int = 0, severity: str = "warning", kind: str = "firing",
         at: datetime = T0) -> AlertMessage:
    return AlertMessage(alert_id=f"rule-a-{i:04d}", kind=kind, rule="rule-a", rule_name="测试规则",
                        severity=severity, title=f"告警 {i}", reason="测试", fired_at=at,
                        group={"place": "城关镇"})


def hook(rx: Receiver, name: str = "hook", token: str = "t1", **extra) -> WebhookChannel:
    return WebhookChannel(name, {"url": rx.url("webhook", token), "timeout": 1.0, **extra})


@pytest.fixture
def rx():
    with Receiver(hang_seconds=4.0) as server:
        yield server


@pytest.fixture
def engine(tmp_path):
    return StateDB(f"sqlite:///{tmp_path / 'state.db'}").engine


def make(engine, channels, clock=None, **kw) -> Outbox:
    return Outbox(engine, {c.name: c for c in channels}, clock=clock or Clock(),
                  rng=random.Random(7), **kw)


def notice_ids(rx: Receiver) -> list[str]:
    return [r.json["notice_id"] for r in rx.accepted("webhook")]


def test_enqueue_joins_the_callers_transaction(engine, rx):
    box = make(engine, [hook(rx)])
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            conn.execute(insert(crawl_runs).values(source="x", started_at=T0, status="ok"))
            box.enqueue(note(1), ["hook"], conn=conn)
            raise RuntimeError("the rule-state update failed")
    assert box.deliveries() == []
    with engine.begin() as conn:
        ids = box.enqueue(note(1), ["hook"], conn=conn)
    assert len(ids) == 1 and [d.state for d in box.deliveries()] == ["pending"]
    assert box.enqueue(note(1), ["hook"]) == []  # the same notice again adds nothing


def test_delivered_once_then_marked_sent_with_the_notice_id(engine, rx):
    box = make(engine, [hook(rx)])
    box.enqueue(note(1), ["hook"])
    box.enqueue(note(2), ["hook"])
    report = box.deliver_due(T0)
    assert report.sent == 2
    assert sorted(notice_ids(rx)) == sorted([note(1).notice_id, note(2).notice_id])
    assert {d.state for d in box.deliveries()} == {"sent"}
    assert box.deliver_due(T0 + timedelta(hours=1)).sent == 0
    assert len(rx.received) == 2


def test_500_is_retried_with_backoff_then_delivered(engine, rx):
    clock = Clock()
    box = make(engine, [hook(rx)], clock, policy=RetryPolicy(base=60, max_attempts=5))
    box.enqueue(note(1), ["hook"])
    rx.behave("status:500", times=2)
    assert box.deliver_due(T0).retried == 1
    first = box.deliveries()[0]
    assert first.state == "pending" and first.attempts == 1 and first.last_error
    assert T0 + timedelta(seconds=30) <= first.next_at <= T0 + timedelta(seconds=60)
    assert box.deliver_due(T0 + timedelta(seconds=29)).retried == 0  # not due yet
    assert len(rx.received) == 1
    assert box.deliver_due(first.next_at).retried == 1
    second = box.deliveries()[0]
    # the second wait doubles: between 60 and 120 s after the second attempt
    assert first.next_at + timedelta(seconds=60) <= second.next_at <= first.next_at + \
        timedelta(seconds=120)
    assert box.deliver_due(second.next_at).sent == 1
    assert box.deliveries()[0].state == "sent" and box.deliveries()[0].attempts == 3
    assert notice_ids(rx) == [note(1).notice_id]


def test_dead_letter_after_max_attempts_and_resend(engine, rx):
    box = make(engine, [hook(rx)], policy=RetryPolicy(base=1, max_attempts=3))
    box.enqueue(note(1), ["hook"])
    rx.behave("status:503")
    now = T0
    for _ in range(3):
        box.deliver_due(now)
        now += timedelta(hours=1)
    [dead] = box.deliveries("dead")
    assert dead.attempts == 3 and "503" in dead.last_error
    assert box.deliver_due(now).sent == 0 and len(rx.received) == 3
    rx.behave("ok")
    assert box.resend(dead.id, now) is True
    assert box.resend(dead.id, now) is False  # no longer dead
    assert box.deliver_due(now).sent == 1
    assert notice_ids(rx) == [note(1).notice_id]


def test_a_refusal_no_retry_can_fix_is_dead_at_once(engine, rx):
    with Receiver() as robot:
        ding = DingTalkChannel("ding", {"webhook": Secret(robot.url("dingtalk")),
                                        "timeout": 1.0})
        box = make(engine, [ding, hook(rx)])
        box.enqueue(note(1), ["ding", "hook"])
        robot.behave("errcode:310000", times=1)  # keyword / signature check failed
        box.deliver_due(T0)
    states = {d.channel: (d.state, d.attempts, d.last_code) for d in box.deliveries()}
    assert states["ding"] == ("dead", 1, "310000")
    assert states["hook"][0] == "sent"


def test_rate_limit_refusal_honours_retry_after_and_blocks_the_robot(engine, rx):
    ding = DingTalkChannel("ding", {"webhook": Secret(rx.url("dingtalk")), "timeout": 1.0})
    box = make(engine, [ding], policy=RetryPolicy(base=1))
    box.enqueue(note(1), ["ding"])
    rx.behave("errcode:130101", times=1)  # "send too fast": DingTalk throttles for 10 minutes
    box.deliver_due(T0)
    [row] = box.deliveries()
    assert row.state == "pending" and row.next_at >= T0 + timedelta(seconds=600)
    box.enqueue(note(2), ["ding"])
    box.deliver_due(T0 + timedelta(seconds=30))  # the robot is blocked: nothing goes
    assert len(rx.received) == 1
    assert box.deliver_due(T0 + timedelta(seconds=601)).sent == 2


def test_unknown_channel_is_a_visible_dead_letter(engine, rx):
    box = make(engine, [hook(rx)])
    box.enqueue(note(1), ["hook", "nowhere"])
    box.deliver_due(T0)
    rows = {d.channel: d for d in box.deliveries()}
    assert rows["hook"].state == "sent"
    assert rows["nowhere"].state == "dead" and "unknown channel 'nowhere'" in \
        rows["nowhere"].last_error


def test_burst_beyond_the_pace_is_merged_into_one_digest(engine, rx):
    box = make(engine, [hook(rx, max_per_minute=3)])
    for i in range(10):
        box.enqueue(note(i), ["hook"])
    report = box.deliver_due(T0)
    assert report.sent == 10 and len(rx.received) == 3
    bodies = [r.json for r in rx.accepted("webhook")]
    assert [b["kind"] for b in bodies] == ["firing", "firing", "digest"]
    assert bodies[2]["count"] == 8
    rows = box.deliveries()
    digested = [d for d in rows if d.digest_id]
    assert len(digested) == 8 and {d.digest_id for d in digested} == {bodies[2]["alert_id"]}
    # the pace holds after a restart: the history is rebuilt from the attempt times
    box2 = make(engine, [hook(rx, max_per_minute=3)])
    box2.enqueue(note(50), ["hook"])
    assert box2.deliver_due(T0 + timedelta(seconds=10)).held == 1
    assert box2.deliver_due(T0 + timedelta(seconds=61)).sent == 1


def test_most_severe_goes_first_when_slots_are_short(engine, rx):
    box = make(engine, [hook(rx, max_per_minute=2)])
    box.enqueue(note(1, "info"), ["hook"])
    box.enqueue(note(2, "warning"), ["hook"])
    box.enqueue(note(3, "critical"), ["hook"])
    box.deliver_due(T0)
    first = rx.accepted("webhook")[0].json
    assert first["alert_id"] == "rule-a-0003"


def test_hanging_channel_never_delays_another(engine):
    with Receiver(hang_seconds=4.0) as slow, Receiver() as fast:
        box = make(engine, [hook(slow, "slow", timeout=3.0), hook(fast, "fast")])
        box.enqueue(note(1), ["slow", "fast"])
        slow.behave("hang")
        report = box.deliver_due(T0, wait=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not fast.accepted():
            time.sleep(0.02)
        rows = {d.channel: d.state for d in box.deliveries()}
        assert fast.accepted() and slow.hanging == 1
        assert rows["slow"] == "sending"
        # a second round while the slow worker is still on it skips that channel only
        box.enqueue(note(2), ["slow", "fast"], now=T0)
        again = box.deliver_due(T0 + timedelta(seconds=1), wait=False)
        assert again.busy == ["slow"] and len(slow.received) == 1
        report.join()
        again.join()
        states = [(d.channel, d.notice_id[-20:], d.state) for d in box.deliveries()]
        assert [s for c, _, s in states if c == "slow"] == ["pending", "pending"]  # timed out
        assert [s for c, _, s in states if c == "fast"] == ["sent", "sent"]


def test_restart_resumes_pending_and_retries_an_interrupted_send(engine, rx):
    box = make(engine, [hook(rx)])
    box.enqueue(note(1), ["hook"])
    box.enqueue(note(2), ["hook"])
    # a crash mid-send: the row says "sending" since T0, nothing was recorded as sent
    with engine.begin() as conn:
        conn.execute(update(alert_deliveries).where(alert_deliveries.c.id == 1)
                     .values(state="sending", sending_at=T0, attempts=1))
    again = make(engine, [hook(rx)], policy=RetryPolicy(stale_grace=5))
    assert again.deliver_due(T0 + timedelta(seconds=2)).sent == 1  # too recent to retry
    assert again.deliver_due(T0 + timedelta(seconds=7)).sent == 1
    assert sorted(notice_ids(rx)) == sorted([note(1).notice_id, note(2).notice_id])
    assert {d.attempts for d in again.deliveries()} == {1, 2}


def test_interrupted_send_after_the_clock_jumped_back_is_retried(engine, rx):
    box = make(engine, [hook(rx)])
    box.enqueue(note(1), ["hook"])
    with engine.begin() as conn:  # the crashed attempt was stamped by a clock an hour fast
        conn.execute(update(alert_deliveries).values(state="sending", attempts=1,
                                                     sending_at=T0 + timedelta(hours=1)))
    assert make(engine, [hook(rx)]).deliver_due(T0).sent == 1
    assert notice_ids(rx) == [note(1).notice_id]


def test_a_wait_set_by_a_clock_far_ahead_does_not_strand_a_delivery(engine, rx):
    box = make(engine, [hook(rx)])
    box.enqueue(note(1), ["hook"])
    with engine.begin() as conn:  # a retry scheduled while the clock was a week fast
        conn.execute(update(alert_deliveries).values(next_at=T0 + timedelta(days=7)))
    assert box.deliver_due(T0).sent == 1


def test_limit_bounds_one_round_per_channel(engine, rx):
    box = make(engine, [hook(rx)])
    for i in range(7):
        box.enqueue(note(i), ["hook"])
    assert [box.deliver_due(T0, limit=3).sent for _ in range(4)] == [3, 3, 1, 0]
    assert len(set(notice_ids(rx))) == 7


def test_two_senders_on_one_database_never_send_a_notice_twice(tmp_path, rx):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = (make(StateDB(url).engine, [hook(rx)]) for _ in range(2))
    for i in range(40):
        first.enqueue(note(i), ["hook"])
    start = threading.Barrier(2)

    def run(box):
        start.wait()
        box.deliver_due(T0)

    workers = [threading.Thread(target=run, args=(b,)) for b in (first, second)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    first.deliver_due(T0)  # whatever the loser of a claim left behind
    assert sorted(notice_ids(rx)) == sorted(note(i).notice_id for i in range(40))
    assert first.counts() == {"sent": 40}


def test_quiet_hours_hold_below_the_top_severity_until_they_end(engine, rx):
    quiet = {"hook": QuietHours.parse("22:00-07:00", "Asia/Shanghai")}
    night = datetime(2026, 12, 1, 15, 30, tzinfo=timezone.utc)  # 23:30 in Shanghai
    box = make(engine, [hook(rx)], quiet_hours=quiet)
    box.enqueue(note(1, "warning", at=night), ["hook"], now=night)
    box.enqueue(note(2, "critical", at=night), ["hook"], now=night)
    report = box.deliver_due(night)
    assert report.sent == 1 and report.held == 1
    assert [r.json["severity"] for r in rx.accepted()] == ["critical"]
    held = box.deliveries("pending")[0]
    assert held.held == "quiet"
    assert held.next_at == datetime(2026, 12, 1, 23, 0, tzinfo=timezone.utc)  # 07:00 local
    assert box.deliver_due(held.next_at - timedelta(seconds=1)).sent == 0
    assert box.deliver_due(held.next_at).sent == 1


def test_quiet_hours_parse_rejects_bad_text():
    with pytest.raises(ValueError, match="22:00-07:00"):
        QuietHours.parse("late", "Asia/Shanghai")
    day = QuietHours.parse("12:00-13:30")
    lunch = datetime(2026, 12, 1, 4, 15, tzinfo=timezone.utc)  # 12:15 local
    assert day.until(lunch) == datetime(2026, 12, 1, 5, 30, tzinfo=timezone.utc)
    assert day.until(lunch + timedelta(hours=2)) is None


def test_tables_are_created_on_a_database_made_before_them(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    crawl_runs.metadata.create_all(engine, tables=[crawl_runs])
    box = Outbox(engine, {})
    box.enqueue(note(1), ["x"])
    with engine.connect() as conn:
        assert conn.execute(select(alerts.c.id)).scalars().all() == ["rule-a-0001"]
        assert conn.execute(select(alert_notices.c.kind)).scalars().all() == ["firing"]
