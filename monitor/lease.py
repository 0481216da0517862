"""The service lease: at most one ``monitor run`` per state database.

A running service holds one row in ``service_lease`` and renews it every few seconds.  A second
``monitor run`` on the same database refuses to start and names the holder (pid, host, since).
The lease passes to a new service when the holder is gone: at once when it ran on this host and
its process has ended (a ``kill -9`` leaves the row behind), otherwise when it has not been
renewed for ``lease_seconds`` (a host that died).  There is no standby mode: a second service
refuses, and systemd (docs/deployment.md) restarts the first.
"""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, Integer, String, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from monitor.errors import MonitorError
from monitor.state import _utc, ensure_schema, metadata, process_alive, process_token

log = logging.getLogger(__name__)

service_lease = Table(
    "service_lease", metadata,
    Column("name", String(32), primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("token", String(64)),  # boot id and start time of the holder (monitor.state)
    Column("host", String(255), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("renewed_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


class ServiceRunning(MonitorError):
    """Another ``monitor run`` holds the lease on this state database."""

    def __init__(self, holder: "Holder"):
        super().__init__(
            f"another monitor run is already running on this state database: pid {holder.pid} "
            f"on host {holder.host}, since {holder.since.isoformat(timespec='seconds')} "
            f"(lease renewed {holder.renewed_at.isoformat(timespec='seconds')}); stop it first, "
            f"or wait until its lease lapses at {holder.expires_at.isoformat(timespec='seconds')}")
        self.holder = holder


class LeaseLost(MonitorError):
    """This service's lease was taken over (it was not renewed in time): stop working."""


@dataclass
class Holder:
    """Who holds the lease."""

    pid: int
    host: str
    since: datetime
    renewed_at: datetime
    expires_at: datetime
    token: str | None = None

    @classmethod
    def from_row(cls, row) -> "Holder":
        return cls(pid=row.pid, host=row.host, since=_utc(row.since),
                   renewed_at=_utc(row.renewed_at), expires_at=_utc(row.expires_at),
                   token=row.token)


class Lease:
    """This process's claim on the service lease of one state database."""

    def __init__(self, engine, *, seconds: float = 60.0, name: str = "run"):
        self.engine = engine
        self.seconds = float(seconds)
        self.name = name
        self.pid = os.getpid()
        self.token = process_token(self.pid)
        self.host = socket.gethostname()
        self.held = False
        ensure_schema(engine, [service_lease])

    def holder(self) -> Holder | None:
        """The current holder (maybe a lapsed one), or None."""
        with self.engine.connect() as c:
            row = c.execute(select(service_lease).where(
                service_lease.c.name == self.name)).first()
        return None if row is None else Holder.from_row(row)

    def _ours(self, holder: Holder) -> bool:
        return holder.pid == self.pid and holder.host == self.host and holder.token == self.token

    def _gone(self, holder: Holder, now: datetime) -> str | None:
        if holder.expires_at <= now:
            return f"its lease lapsed at {holder.expires_at.isoformat(timespec='seconds')}"
        if holder.host == self.host and not process_alive(holder.pid, holder.token):
            return f"its process (pid {holder.pid}) has ended"
        return None

    def acquire(self, now: datetime) -> Holder | None:
        """Take the lease; returns the previous holder taken over from (None if it was free).
        Raises :class:`ServiceRunning` when a live service holds it."""
        for _ in range(3):  # two services starting at once: one insert loses, then reads
            try:
                return self._acquire(now)
            except IntegrityError:
                continue
        raise MonitorError("could not take the service lease (another service is starting)")

    def _acquire(self, now: datetime) -> Holder | None:
        expires = now + timedelta(seconds=self.seconds)
        values = dict(pid=self.pid, token=self.token, host=self.host, since=now,
                      renewed_at=now, expires_at=expires)
        with self.engine.begin() as c:
            row = c.execute(select(service_lease).where(
                service_lease.c.name == self.name)).first()
            if row is None:
                c.execute(insert(service_lease).values(name=self.name, **values))
                self.held = True
                return None
            previous = Holder.from_row(row)
            if not self._ours(previous):
                why = self._gone(previous, now)
                if why is None:
                    raise ServiceRunning(previous)
                log.warning("taking over the service lease from pid %d on %s: %s",
                            previous.pid, previous.host, why)
            c.execute(update(service_lease).where(service_lease.c.name == self.name)
                      .values(**values))
            self.held = True
            return None if self._ours(previous) else previous

    def renew(self, now: datetime) -> None:
        """Extend the lease; :class:`LeaseLost` if another service has taken it."""
        with self.engine.begin() as c:
            done = c.execute(update(service_lease).where(
                service_lease.c.name == self.name, service_lease.c.pid == self.pid,
                service_lease.c.host == self.host).values(
                renewed_at=now, expires_at=now + timedelta(seconds=self.seconds))).rowcount
        if not done:
            self.held = False
            raise LeaseLost("the service lease was taken over by another monitor run "
                            "(this one did not renew it in time); stopping")

    def release(self) -> None:
        """Give the lease up (a clean stop)."""
        if not self.held:
            return
        with self.engine.begin() as c:
            c.execute(delete(service_lease).where(
                service_lease.c.name == self.name, service_lease.c.pid == self.pid,
                service_lease.c.host == self.host))
        self.held = False
