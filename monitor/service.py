"""``monitor run``: the long-running service (docs/deployment.md).

One process holds the service lease on the state database (:mod:`monitor.lease`) and, each
round of its loop (:meth:`Service.run_pending`, driven by an injected clock in tests):

* starts the crawls that are due (:mod:`monitor.schedule`), as subprocesses with a timeout, at
  most one per source and ``[run] max_parallel_crawls`` at once;
* stores what the crawls hand it (:class:`monitor.handoff.Inbox`, in its own thread) with the
  plugins it keeps loaded, and runs the per-document rules on each stored batch;
* evaluates the window rules that are due (in their own thread, on a store connection of
  their own) and ends quiet per-document episodes (:class:`alerts.engine.RuleEngine`);
* drives the alerts (escalation, held notices) and delivers the outbox, one thread per
  channel, so that a slow channel never holds the loop.

SIGTERM, SIGINT (Ctrl-C) and SIGHUP stop it cleanly: running crawls are stopped and recorded
as interrupted, what they handed off is stored, sends in flight finish (bounded), the lease is
given up.  After ``kill -9`` a restart finds everything in the state database and the inbox.
"""
from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Callable

from monitor.config import MonitorConfig

log = logging.getLogger(__name__)

QUIET_EVERY = 30.0  # s between looks for per-document episodes that have gone quiet
RELOAD_EVERY = 30.0  # s between looks at the rule files (a changed file is re-read)
IDLE_WAIT = 1.0  # s the loop sleeps at most between rounds (less when something is due)
STOP_GRACE = 30.0  # s a stop waits for hand-off files and sends in flight


def utcnow() -> datetime:
    """The wall clock (the default clock of the service)."""
    return datetime.now(timezone.utc)


class Service:
    """The service on one configuration; :meth:`start`, then :meth:`run_forever` (or
    :meth:`run_once`), then :meth:`stop`."""

    def __init__(self, config: MonitorConfig, *, clock: Callable[[], datetime] = utcnow,
                 channels: dict | None = None):
        self.config = config
        self.clock = clock
        self._channels = channels
        self.stopping = threading.Event()
        self.stop_reason = ""
        self.wake = threading.Event()
        self.cancel = threading.Event()  # set on stop: running crawls are interrupted
        self.crawls: dict[str, Future] = {}
        from monitor.schedule import Schedule

        self.schedule = Schedule(config.timezone, config.run.rule_interval_seconds)
        self.crawl_results: list = []
        self._evaluating: Future | None = None
        self._quiet_at: datetime | None = None
        self._renew_at: datetime | None = None
        self._reload_at: datetime | None = None
        self._rule_files: list = []
        self.started = False

    # -- start and stop -------------------------------------------------------------------------

    def start(self) -> None:
        """Take the lease, load plugins, rules and channels, and rebuild the schedule from the
        state database.  Raises ServiceRunning when another service holds the lease."""
        from alerts.lifecycle import Alerts
        from alerts.outbox import Outbox
        from monitor.app import Monitor
        from monitor.handoff import Inbox
        from monitor.lease import Lease
        from monitor.schedule import last_crawl_starts
        from monitor.state import StateDB
        from monitor.store import open_store

        config, now = self.config, self.clock()
        self.state = StateDB(config.state_url)
        self.lease = Lease(self.state.engine, seconds=config.run.lease_seconds)
        previous = self.lease.acquire(now)
        if previous is not None:
            log.warning("took over from monitor run pid %d on %s (since %s)", previous.pid,
                        previous.host, previous.since.isoformat(timespec="seconds"))
        try:
            self.monitor = Monitor(config)
            self.monitor._state = self.state
            store = self.monitor.store  # the writer's connection (hand-off thread)
            self.reader = open_store(config.store, self.monitor.plugins.stores())
            from alerts.maintenance import load_maintenance

            maintenance = load_maintenance(config.config_dir, timezone=config.timezone)
            channels, quiet_hours = self._load_channels()
            self.outbox = Outbox(self.state.engine, channels, clock=self.clock,
                                 maintenance=maintenance, quiet_hours=quiet_hours)
            self.outbox.on_worker_done = self.wake.set  # send what became due meanwhile
            self.alerts = Alerts(self.outbox, timezone=config.timezone)
            self.rules = self._load_rules()
            from monitor.clocks import Clocks
            from monitor.wiring import role_channels

            from monitor.incidents import Incidents
            from monitor.policy import load_policy
            from monitor.response import Response

            self.roles = role_channels(config)
            self.clocks = Clocks(self.state.engine, outbox=self.outbox, route=self.roles,
                                 timezone_name=config.timezone)
            from monitor.playbook import Tasks, load_playbook

            self.response = Response(Incidents(self.state.engine, clock=self.clock,
                                               timezone=config.timezone),
                                     self.clocks, load_policy(config.config_dir),
                                     tasks=Tasks(self.state.engine, clock=self.clock),
                                     playbook=load_playbook(config.config_dir))
            self.engine.start(store, now)
            self.inbox = Inbox(self.monitor, on_stored=self._stored, wake=self.wake.set)
        except BaseException:
            self.lease.release()
            raise
        self.schedule.rebuild(self.sources(), last_crawl_starts(self.state.engine),
                              self.engine.windowed, self.engine.evaluated_at, now)
        self.pool = ThreadPoolExecutor(config.run.max_parallel_crawls,
                                       thread_name_prefix="crawl")
        self.evaluator = ThreadPoolExecutor(1, thread_name_prefix="rules")
        self.writer = threading.Thread(target=self._write_loop, name="handoff", daemon=True)
        self.writer.start()
        self._renew_at = now
        self.started = True
        if not config.run.handoff and self.engine.per_document:
            log.warning("[run] handoff = false: crawls store their own documents, so the "
                        "per-document rules (%s) do not run",
                        ", ".join(r.id for r in self.engine.per_document))
        log.info("monitor run started: %d sources, %d rules (%d per document), %d channels",
                 len(self.schedule.crawls), len(self.engine.rules), len(self.engine.per_document),
                 len(self.outbox.channels))

    def _load_channels(self) -> tuple[dict, dict]:
        from monitor.wiring import service_channels

        if self._channels is not None:
            return dict(self._channels), {}
        return service_channels(self.config)

    def _load_rules(self):
        from monitor.wiring import rule_engine

        self._rule_files = self._rules_signature()
        self.engine, rules = rule_engine(self.config, self.alerts, list(self.outbox.channels))
        return rules

    def _rules_signature(self) -> list:
        folder = self.config.config_dir / "rules"
        try:
            return sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                          for p in folder.glob("*.toml"))
        except OSError:
            return []

    def reload_rules(self, now: datetime) -> bool:
        """Re-read the rule files if any was added, changed or removed; True if it did.  The
        new rules take over at once (their state is in the database)."""
        if self._rules_signature() == self._rule_files:
            return False
        old = self.engine
        self._load_rules()
        self.engine.start(self.monitor.store, now)
        self.schedule.set_rules(self.engine.windowed, self.engine.evaluated_at, now)
        log.info("rules reloaded: %d rules (were %d)", len(self.engine.rules), len(old.rules))
        return True

    def sources(self) -> list:
        """The enabled sources."""
        return [s for s in self.config.sources.values() if s.enabled]

    def request_stop(self, reason: str) -> None:
        """Ask the loop to stop (signal handlers call this)."""
        if not self.stopping.is_set():
            self.stop_reason = reason
            log.info("stopping: %s", reason)
        self.stopping.set()
        self.wake.set()

    def stop(self) -> None:
        """Stop crawls (recorded as interrupted), store what was handed off, let sends in
        flight finish (bounded), give up the lease and close everything."""
        if not self.started:
            return
        self.started = False
        self.stopping.set()
        self.cancel.reason = f"interrupted ({self.stop_reason or 'service stopped'})"
        self.cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.evaluator.shutdown(wait=True, cancel_futures=True)
        self.writer.join(STOP_GRACE)
        self.inbox.run_once()
        self.outbox.close(timeout=STOP_GRACE)
        self.lease.release()
        self.reader.close()
        self.monitor.close()
        log.info("monitor run stopped")

    # -- the loop -------------------------------------------------------------------------------

    def run_forever(self) -> None:
        """Rounds until :meth:`request_stop` (or a signal, when run in the main thread); sleeps
        only while nothing is due."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT"),
                              (signal.SIGHUP, "SIGHUP")):
                previous[sig] = signal.signal(sig, lambda *_a, n=name: self.request_stop(n))
        try:
            while not self.stopping.is_set():
                self.wake.clear()
                self.run_pending()
                self.wake.wait(self._wait())
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _wait(self) -> float:
        """Seconds until the next thing is due (a crawl, a rule, a clock step), at most
        IDLE_WAIT: a deadline step fires at its time, not up to a round later."""
        now = self.clock()
        due = [t for t in (self.schedule.soonest(), self.clocks.next_due()) if t is not None]
        soon = min(due, default=now + timedelta(seconds=IDLE_WAIT))
        return max(0.01, min(IDLE_WAIT, (soon - now).total_seconds()))

    def run_pending(self, now: datetime | None = None) -> dict:
        """One round: whatever is due at ``now`` (default: the clock).  Returns what it did."""
        from monitor.lease import LeaseLost

        now = now or self.clock()
        self._check_clock(now)
        done = {"crawls": [], "rules": 0, "clocks": [], "ticked": [], "closed": 0,
                "delivered": None}
        if self._renew_at is None or now >= self._renew_at:
            try:
                self.lease.renew(now)
            except LeaseLost as exc:
                log.error("%s", exc)
                self.request_stop("lease lost")
                return done
            self._renew_at = now + timedelta(seconds=self.config.run.lease_seconds / 3)
        done["crawls"] = self._start_crawls(now)
        try:
            if self._reload_at is None or now >= self._reload_at:
                self._reload_at = now + timedelta(seconds=RELOAD_EVERY)
                self.reload_rules(now)
        except Exception:  # noqa: BLE001 - a broken rules folder: keep the rules it had
            log.exception("could not reload the rules; the loaded ones stay")
        done["rules"] = self._start_rules(now)
        try:
            if self._quiet_at is None or now >= self._quiet_at:
                done["closed"] = self.engine.close_quiet(now)
                self._quiet_at = now + timedelta(seconds=QUIET_EVERY)
            done["clocks"] = self.clocks.tick(now)  # deadline steps (issue 8), each once
            done["ticked"] = self.alerts.tick(now)
            done["delivered"] = self.outbox.deliver_due(now, wait=False)
        except Exception:  # noqa: BLE001 - the state database is busy: next round
            log.exception("alert round failed; tried again next round")
        return done

    def _check_clock(self, now: datetime) -> None:
        """A clock that jumped back would push every due time away (and the lease renewal
        with it): pull them back to at most one period from now."""
        if self.schedule.clock_jumped_back(now, self.sources()):
            log.warning("the clock jumped back; due times are moved back with it")
            self._renew_at = self._quiet_at = self._reload_at = None

    def _start_crawls(self, now: datetime) -> list[str]:
        running = {sid for sid, f in self.crawls.items() if not f.done()}  # one per source
        started = []
        for source in self.schedule.take_crawls(self.sources(), now, running):
            self.crawls[source.id] = self.pool.submit(self._crawl, source.id)
            started.append(source.id)
        return started

    def _crawl(self, source_id: str):
        from monitor.crawl import run_crawl

        handoff = self if self.config.run.handoff else None
        result = run_crawl(self.config, source_id, monitor=self.monitor, cancel=self.cancel,
                           handoff=handoff)
        self.crawl_results.append(result)
        log.info("crawl of %s: %s (%s)", source_id, result.status, result.message)
        self.wake.set()
        return result

    # the Handoff protocol of monitor.crawl: the inbox and the counts of one run
    @property
    def directory(self):
        return self.inbox.directory

    def expect(self, label: str) -> None:
        """A crawl is starting: count its hand-off files apart."""
        self.inbox.expect(label)

    def collect(self, label: str) -> dict:
        """Wait until run ``label``'s hand-off files are stored; their counts."""
        return self.inbox.collect(label, timeout=self.config.crawl.timeout_seconds)

    def _start_rules(self, now: datetime) -> int:
        if self._evaluating is not None and not self._evaluating.done():
            return 0
        due = self.schedule.take_rules(self.engine.windowed, now)
        if not due:
            return 0
        self._evaluating = self.evaluator.submit(self._evaluate, due, now)
        return len(due)

    def _evaluate(self, rules: list, now: datetime) -> None:
        for rule in rules:
            if self.stopping.is_set():
                return
            try:
                self.engine.catch_up(rule, self.reader, now,
                                     self.config.run.rule_interval_seconds)
                self.engine.evaluate(rule, self.reader, now)
            except Exception:  # noqa: BLE001 - one rule never stops the others
                log.exception("rule %s could not be evaluated", rule.id)
        self.wake.set()

    def _stored(self, pairs) -> None:
        from monitor.release_watch import watch

        now = self.clock()
        self.engine.on_stored(pairs, self.monitor.store, now)
        try:  # an own channel's document may be the release an incident waits for
            watch(self.response, pairs, now, outbox=self.outbox, route=self.roles)
        except Exception:  # noqa: BLE001 - a proposal is a courtesy; storing goes on
            log.exception("release detection failed for a stored batch")
        self.wake.set()  # deliver at once

    def _write_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                stored = self.inbox.run_once()
            except Exception:  # noqa: BLE001 - logged; the files stay in the inbox
                log.exception("hand-off round failed")
                stored = 0
            if not stored:
                self.stopping.wait(self.inbox.POLL)

    # -- one round, for cron-style hosts --------------------------------------------------------

    def run_once(self) -> dict:
        """``monitor run --once``: every crawl due now (waited for), the rules due after them,
        then the alerts and a delivery round (waited for); returns what it did."""
        now = self.clock()
        crawls = self._start_crawls(now)
        for future in list(self.crawls.values()):
            future.result()
        self.inbox.run_once()
        now = self.clock()
        due = self.schedule.take_rules(self.engine.windowed, now)
        self._evaluate(due, now)
        self.engine.close_quiet(now)
        self.clocks.tick(now)
        ticked = self.alerts.tick(now)
        delivered = self.outbox.deliver_due(now, wait=True)
        return {"crawls": crawls, "results": list(self.crawl_results), "rules": len(due),
                "ticked": ticked, "delivered": delivered, "outbox": self.outbox.counts()}

