"""Pacing one channel instance with an injected clock: never over the limit, a burst merged."""
from __future__ import annotations

from alerts.pacing import Pacer, limits_for


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def drain(pacer: Pacer, pending: list[int]) -> tuple[list[int], list[list[int]], list[int]]:
    """Run one round of the plan, recording the sends the outbox would make."""
    plan = pacer.plan(pending)
    for _ in range(plan.sends):
        pacer.record()
    return plan.single, ([plan.digest] if plan.digest else []), plan.held


def test_under_the_limit_everything_goes_singly():
    pacer = Pacer([(20, 60)], clock=Clock())
    single, digests, held = drain(pacer, list(range(5)))
    assert single == [0, 1, 2, 3, 4] and digests == [] and held == []
    assert pacer.available() == 15


def test_a_burst_of_25_uses_19_singles_and_one_digest_of_6():
    pacer = Pacer([(20, 60)], clock=Clock())
    single, digests, held = drain(pacer, list(range(25)))
    assert single == list(range(19))
    assert digests == [list(range(19, 25))]
    assert held == [] and pacer.available() == 0


def test_when_full_notices_are_held_and_the_wait_is_until_the_oldest_leaves():
    clock = Clock()
    pacer = Pacer([(20, 60)], clock=clock)
    for second in range(20):
        pacer.record()
        clock.advance(1)  # sends at t = 0 … 19, now t = 20
    plan = pacer.plan(["a", "b"])
    assert plan.single == [] and plan.digest == [] and plan.held == ["a", "b"]
    assert plan.wait == 40.0  # the send at t = 0 leaves the window at t = 60
    clock.advance(40)
    plan = pacer.plan(["a", "b"])
    assert plan.digest == ["a", "b"] and plan.sends == 1  # one slot: both merged


def test_held_notices_are_never_dropped_over_many_rounds():
    clock = Clock()
    pacer = Pacer([(20, 60)], clock=clock)
    queue = list(range(200))
    delivered: list[int] = []
    sends_per_window: list[int] = []
    for _ in range(30):
        single, digests, held = drain(pacer, queue)
        delivered += single + [n for d in digests for n in d]
        sends_per_window.append(len(single) + len(digests))
        queue = held + [max(queue, default=0) + 1]  # one new notice arrives each round
        clock.advance(10)
    assert sorted(set(delivered)) == sorted(delivered)  # none twice
    assert set(range(200)) <= set(delivered)             # none lost
    # at most 20 sends in any 60 s (6 rounds of 10 s)
    assert max(sum(sends_per_window[i:i + 6]) for i in range(len(sends_per_window))) <= 20


def test_two_limits_both_hold():
    clock = Clock()
    pacer = Pacer(limits_for(100, 5), clock=clock)
    single, digests, _ = drain(pacer, list(range(12)))
    assert len(single) == 4 and digests == [list(range(4, 12))]
    assert pacer.wait() == 1.0
    clock.advance(1)
    assert pacer.available() == 5


def test_a_rate_limit_refusal_blocks_the_instance():
    clock = Clock()
    pacer = Pacer([(20, 60)], clock=clock)
    pacer.block(600)
    assert pacer.available() == 0 and pacer.wait() == 600.0
    assert pacer.plan([1]).held == [1]
    clock.advance(600)
    assert pacer.plan([1]).single == [1]


def test_a_clock_that_jumps_back_lets_no_more_through():
    clock = Clock()
    pacer = Pacer([(20, 60)], clock=clock)
    drain(pacer, list(range(20)))
    clock.advance(-3600)  # NTP steps the clock back an hour
    assert pacer.available() == 0
    assert pacer.wait() == 60.0
    clock.advance(60)
    assert pacer.available() == 20


def test_history_rebuilt_after_a_restart_counts():
    clock = Clock()
    history = [clock.now - 30] * 15 + [clock.now + 5]  # one recorded "in the future"
    pacer = Pacer([(20, 60)], clock=clock, history=history)
    assert pacer.available() == 4
    clock.advance(31)
    assert pacer.available() == 19


def test_no_limits_means_no_pacing():
    pacer = Pacer([], clock=Clock())
    assert pacer.plan(list(range(500))).single == list(range(500))
    assert limits_for(None, 0) == ()
