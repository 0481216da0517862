"""Per-channel-instance pacing: never more sends than a robot takes, surplus merged, not dropped.

A DingTalk custom robot takes at most 20 messages a minute and, past that, refuses everything for
ten minutes; a WeCom group robot takes 20 a minute; a Feishu custom bot 100 a minute and 5 a
second (``docs/channels.md`` cites each).  One :class:`Pacer` per channel instance keeps the
times of its recent sends and, given the notices waiting for that instance, plans a round:
send these singly now, merge those into one digest that takes the last free slot, hold the rest
until a slot frees.

Pure logic: the clock is injected (seconds, wall clock by default so that the history can be
rebuilt from the outbox's delivery times after a restart), nothing sleeps, nothing is sent here.
A clock that jumps backwards never lets more through: what was recorded moves back with it.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Generic, Iterable, Sequence, TypeVar

T = TypeVar("T")

#: One limit: at most ``count`` sends in any ``seconds``-long window.
Limit = tuple[int, float]


@dataclass
class Plan(Generic[T]):
    """What to do with the pending notices of one channel instance this round."""

    single: list[T] = field(default_factory=list)   # send each on its own, now
    digest: list[T] = field(default_factory=list)   # merge into one digest, send now (0 or ≥ 2)
    held: list[T] = field(default_factory=list)     # wait: no free slot
    wait: float | None = None                       # seconds until a slot frees, if any held

    @property
    def sends(self) -> int:
        """How many sends this plan makes (each single, plus one for the digest)."""
        return len(self.single) + (1 if self.digest else 0)


class Pacer:
    """Sliding-window limits for one channel instance; one worker uses it at a time."""

    def __init__(self, limits: Iterable[Limit] = ((20, 60.0),), *,
                 clock: Callable[[], float] = time.time, history: Iterable[float] = ()):
        self.limits: tuple[Limit, ...] = tuple((int(c), float(s)) for c, s in limits
                                               if c > 0 and s > 0)
        self.clock = clock
        self._horizon = max((s for _, s in self.limits), default=0.0)
        self._sent: deque[float] = deque(sorted(history))
        self._blocked_until = float("-inf")
        self._last = float("-inf")
        self._lock = threading.Lock()  # per instance: one slow robot never blocks another

    # -- state --------------------------------------------------------------------------------

    def _now(self, now: float | None) -> float:
        now = self.clock() if now is None else now
        if now < self._last:
            # the clock jumped back: move what was recorded back with it, so the window goes
            # on as if no time had passed (never more sends than the robot takes)
            shift = self._last - now
            self._sent = deque(t - shift for t in self._sent)
            self._blocked_until -= shift
        self._last = now
        if self._sent and self._sent[-1] > now:  # a history rebuilt "from the future"
            self._sent = deque(min(t, now) for t in self._sent)
        while self._sent and self._sent[0] <= now - self._horizon:
            self._sent.popleft()
        return now

    def record(self, at: float | None = None) -> None:
        """Count one send (every attempt the robot sees, delivered or refused)."""
        with self._lock:
            now = self._now(at)
            self._sent.append(now)

    def block(self, seconds: float, now: float | None = None) -> None:
        """Send nothing for ``seconds`` (after the robot answered with a rate-limit refusal)."""
        with self._lock:
            now = self._now(now)
            self._blocked_until = max(self._blocked_until, now + max(seconds, 0.0))

    def available(self, now: float | None = None) -> int:
        """How many sends may go now without breaking any limit."""
        with self._lock:
            return self._available(self._now(now))

    def _available(self, now: float) -> int:
        if now < self._blocked_until:
            return 0
        if not self.limits:
            return 1 << 30
        return max(0, min(c - sum(1 for t in self._sent if t > now - s)
                          for c, s in self.limits))

    def wait(self, now: float | None = None) -> float:
        """Seconds until one more send may go (0 when one may go now)."""
        with self._lock:
            return self._wait(self._now(now))

    def _wait(self, now: float) -> float:
        wait = max(0.0, self._blocked_until - now)
        for count, seconds in self.limits:
            recent = [t for t in self._sent if t > now - seconds]
            if len(recent) >= count:
                # the oldest sends must leave the window until only count - 1 remain
                wait = max(wait, recent[len(recent) - count] + seconds - now)
        return wait

    # -- planning -----------------------------------------------------------------------------

    def plan(self, pending: Sequence[T], now: float | None = None) -> Plan[T]:
        """Split ``pending`` (most urgent first) into singles, one digest and held notices.

        With ``n`` free slots and more than ``n`` notices waiting, the first ``n - 1`` go singly
        and all the others are merged into one digest that takes the last slot — a burst is
        never dropped and never breaks the limit.  Nothing is recorded: call :meth:`record` for
        each send actually made.
        """
        with self._lock:
            now = self._now(now)
            items = list(pending)
            free = self._available(now)
            if not items:
                return Plan()
            if free <= 0:
                return Plan(held=items, wait=self._wait(now))
            if len(items) <= free:
                return Plan(single=items)
            return Plan(single=items[: free - 1], digest=items[free - 1:])


def limits_for(max_per_minute: int | None, max_per_second: int | None) -> tuple[Limit, ...]:
    """The limits of a channel instance from its two config values (0 or None: no limit)."""
    out: list[Limit] = []
    if max_per_minute:
        out.append((max_per_minute, 60.0))
    if max_per_second:
        out.append((max_per_second, 1.0))
    return tuple(out)
