"""monitor.clocks: steps in the state database, fired once, late ones marked late, breaches
recorded the moment a limit passes — on an injected clock, and across a real ``kill -9``."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from alerts.outbox import Outbox
from alerts.tables import alert_notices
from clocks import Clock, log_channels
from faults._killkit import wait_for
from monitor.clocks import Clocks, StepSpec, clock_steps
from monitor.state import StateDB

UTC = timezone.utc
T0 = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai: the clocks cross midnight


def release_steps(at: datetime) -> list[StepSpec]:
    """The 重大 release clocks from ``at``: warnings at 2 h and 2.5 h, the 3 h target, warnings
    at 4 h and 4.5 h, the 5 h limit."""
    steps = [StepSpec("release-target/warn-1", "release-target", "warn", at + timedelta(hours=2),
                      ["新闻发言人"], text="距发布目标还剩 1 小时"),
             StepSpec("release-target/warn-2", "release-target", "warn",
                      at + timedelta(hours=2, minutes=30), ["新闻发言人"]),
             StepSpec("release-target/due", "release-target", "due", at + timedelta(hours=3),
                      ["新闻发言人", "政府办"], text="3 小时发布目标已到"),
             StepSpec("release-limit/warn-1", "release-limit", "warn", at + timedelta(hours=4),
                      ["政府办"]),
             StepSpec("release-limit/warn-2", "release-limit", "warn",
                      at + timedelta(hours=4, minutes=30), ["宣传部"]),
             StepSpec("release-limit/due", "release-limit", "due", at + timedelta(hours=5),
                      ["主要负责人"], limit=True, text="已超过最迟发布时限 5 小时")]
    return steps


@pytest.fixture
def world(tmp_path):
    engine = StateDB(f"sqlite:///{tmp_path / 'state.db'}").engine
    clock = Clock(T0)
    box = Outbox(engine, log_channels(tmp_path, ("duty", "office")), clock=clock)
    roles = {"新闻发言人": ["duty"], "政府办": ["office"], "宣传部": ["office"],
             "主要负责人": ["office", "duty"]}
    clocks = Clocks(engine, outbox=box,
                    route=lambda names: [c for n in names for c in roles.get(n, [])])
    return clocks, clock, box


def test_steps_fire_in_order_each_once_and_the_limit_is_a_breach(world):
    clocks, clock, box = world
    assert clocks.arm("INC-1", release_steps(T0)) == 6
    assert clocks.arm("INC-1", release_steps(T0)) == 0  # armed twice: nothing new
    assert clocks.tick(clock.at(119)) == []
    assert [f.key for f in clocks.tick(clock.at(120))] == ["release-target/warn-1"]
    assert clocks.tick(clock.at(120)) == []  # fired once
    fired = clocks.tick(clock.at(300))
    assert [f.key for f in fired] == ["release-target/warn-2", "release-target/due",
                                      "release-limit/warn-1", "release-limit/warn-2",
                                      "release-limit/due"]
    assert [f.breach for f in fired] == [False] * 4 + [True]
    [breach] = clocks.breaches("INC-1")
    assert breach["clock"] == "release-limit" and breach["due_at"] == T0 + timedelta(hours=5)
    # on time: at exactly the due minute, no lateness; the reminders went to the roles' channels
    assert all(f.late_seconds is None for f in fired[-1:])
    assert fired[-1].channels == ["office", "duty"]
    box.deliver_due(clock(), wait=True)
    with box.engine.connect() as c:
        kinds = {r.kind for r in c.execute(select(alert_notices.c.kind)).all()}
    assert kinds == {"reminder"}


def test_a_release_cancels_the_release_clocks_pending_steps(world):
    clocks, clock, _ = world
    clocks.arm("INC-2", release_steps(T0))
    clocks.tick(clock.at(130))
    assert clocks.cancel("INC-2", "release-target") == 2  # warn-2 and due were still pending
    assert clocks.cancel("INC-2") == 3                     # the limit's three
    assert clocks.tick(clock.at(600)) == [] and clocks.breaches("INC-2") == []


def test_steps_that_fell_due_while_down_fire_at_once_marked_late(world):
    clocks, clock, _ = world
    clocks.arm("INC-3", release_steps(T0))
    fired = clocks.tick(clock.at(6 * 60))  # the service comes back an hour after the limit
    assert len(fired) == 6
    assert [round(f.late_seconds / 60) for f in fired] == [240, 210, 180, 120, 90, 60]
    assert clocks.breaches("INC-3")[0]["late_seconds"] == pytest.approx(3600)
    steps = clocks.steps("INC-3")
    assert {s["state"] for s in steps} == {"fired"}


def test_a_breach_is_recorded_even_when_no_channel_can_be_told(tmp_path):
    engine = StateDB(f"sqlite:///{tmp_path / 'state.db'}").engine
    clocks = Clocks(engine, outbox=Outbox(engine, {}), route=lambda names: ["nowhere"])
    clocks.arm("INC-4", release_steps(T0)[-1:])
    [fired] = clocks.tick(T0 + timedelta(hours=5))
    assert fired.breach and len(clocks.breaches("INC-4")) == 1  # the message is a dead letter


def test_naive_times_are_refused(world):
    clocks, _, _ = world
    with pytest.raises(ValueError, match="timezone-aware"):
        clocks.arm("INC-5", [StepSpec("x", "c", "due", datetime(2026, 12, 1, 12))])


FIRER = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timedelta, timezone
    from monitor.clocks import Clocks
    from monitor.state import StateDB

    engine = StateDB(sys.argv[1]).engine
    slow = Clocks(engine)
    real = slow._fire
    def fire(row, now):
        done = real(row, now)
        time.sleep(0.02)  # room for the kill between two steps
        return done
    slow._fire = fire
    start = datetime.fromisoformat(sys.argv[2])
    while True:
        slow.tick(start + timedelta(hours=float(sys.argv[3])))
        time.sleep(0.01)
""")


@pytest.mark.slow
def test_kill_9_with_100_pending_steps_then_restart_fires_each_exactly_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = StateDB(url).engine
    clocks = Clocks(engine)
    for i in range(100):  # 100 steps, one a minute from T0
        clocks.arm(f"INC-{i // 10}", [StepSpec(f"c/{i}", "c", "due", T0 + timedelta(minutes=i),
                                               limit=i % 10 == 9)])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path])}
    # the service fires what is due 50 minutes in, and is killed part-way through
    proc = subprocess.Popen([sys.executable, "-c", FIRER, url, T0.isoformat(), "0.85"], env=env)
    try:
        wait_for("some steps fired", lambda: 10 <= _fired(engine) < 40, 30, step=0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    before = _fired(engine)
    assert 10 <= before < 52  # 52 were due (minutes 0 to 51): it was killed part-way
    # restarted two hours later: everything due fires now, exactly once, the late ones marked
    again = Clocks(engine).tick(T0 + timedelta(hours=2))
    assert len(again) == 100 - before
    with engine.connect() as c:
        rows = c.execute(select(clock_steps)).all()
    assert {r.state for r in rows} == {"fired"} and len(rows) == 100
    late = [r for r in rows if r.late_seconds]
    assert len(late) >= 100 - 52  # every step fired after the restart was late
    assert len(Clocks(engine).breaches()) == 10  # one per limit step, none twice
    assert Clocks(engine).tick(T0 + timedelta(hours=3)) == []


def _fired(engine) -> int:
    with engine.connect() as c:
        return len(c.execute(select(clock_steps.c.id).where(
            clock_steps.c.state == "fired")).all())
