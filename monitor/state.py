"""Workflow state in SQL (SQLite by default) through SQLAlchemy: crawl runs, source cursors.

This is the system's memory, separate from the document store: it is relational and
transactional, and later work (incidents, clocks, alerts, audit) adds its tables here.  Opening
it adds the columns a database made by an older version lacks, and closes the runs left
``running`` by a process that is gone (see :meth:`StateDB.close_stale_runs`).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (JSON, Column, DateTime, Float, Integer, MetaData, String, Table, Text,
                        create_engine, event, func, insert, inspect, select, update)
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StoreError

log = logging.getLogger(__name__)
metadata = MetaData()

RUNNING = "running"
STALE_MARGIN = 600.0  # s past its timeout before a run of another host is taken as abandoned
UNKNOWN_TIMEOUT = 6 * 3600.0  # the timeout assumed for runs recorded without one (older versions)
ORPHAN_GRACE = 3.0  # s an orphaned crawler gets to stop by itself before it is sent SIGTERM

crawl_runs = Table(
    "crawl_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),  # running | ok | empty | failed
    Column("items", Integer, default=0),
    Column("inserted", Integer, default=0),
    Column("updated", Integer, default=0),
    Column("unchanged", Integer, default=0),
    Column("skipped", Integer, default=0),
    Column("errors", Integer, default=0),
    Column("message", Text, default=""),
    Column("report", JSON),
    # who ran it, so that a run whose process died can be told from one still going
    Column("host", String(255)),
    Column("owner_pid", Integer),  # the process that started the crawl and waits for it
    Column("owner_start", String(64)),  # boot id and start time of that process (Linux)
    Column("crawler_pid", Integer),  # the crawl subprocess (a process group of its own)
    Column("crawler_start", String(64)),
    Column("workdir", String(1024)),  # the crawl's temporary directory (report, log)
    Column("timeout_seconds", Float),
)


source_cursors = Table(
    "source_cursors", metadata,
    Column("source", String(64), primary_key=True),
    Column("newest_published_at", DateTime(timezone=True)),  # newest item ever collected
    Column("last_new_at", DateTime(timezone=True)),  # last run that stored something new
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


@dataclass
class CrawlRun:
    """One crawl of one source, as recorded."""

    id: int
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    items: int
    inserted: int
    updated: int
    unchanged: int
    skipped: int
    errors: int
    message: str
    report: dict | None
    host: str | None = None
    owner_pid: int | None = None
    owner_start: str | None = None
    crawler_pid: int | None = None
    crawler_start: str | None = None
    workdir: str | None = None
    timeout_seconds: float | None = None


@dataclass
class SourceHealth:
    """What ``monitor sources status`` shows for one source."""

    source: str
    runs: int
    last_run: CrawlRun | None
    last_success: datetime | None
    consecutive_empty: int
    consecutive_failed: int
    runs_without_new: int = 0  # finished runs in a row that stored nothing new or changed
    newest_published_at: datetime | None = None
    last_new_at: datetime | None = None


class StateDB:
    """Tables of workflow state, created on first use."""

    def __init__(self, url: str):
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(url, future=True)
            if url.startswith("sqlite"):
                event.listen(self.engine, "connect", _sqlite_pragmas)
            ensure_schema(self.engine)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"cannot open the workflow-state database {url}: "
                             f"{getattr(exc, 'orig', None) or exc}") from exc
        try:
            self.close_stale_runs()
        except SQLAlchemyError as exc:  # the database is usable; the next open tries again
            log.warning("could not close stale crawl runs: %s", getattr(exc, "orig", exc))

    def start_run(self, source: str, now: datetime | None = None, *,
                  timeout: float | None = None) -> int:
        """Record that a crawl started (owned by this process, on this host); return its id."""
        pid = os.getpid()
        with self.engine.begin() as conn:
            result = conn.execute(insert(crawl_runs).values(
                source=source, started_at=now or datetime.now(timezone.utc), status=RUNNING,
                host=socket.gethostname(), owner_pid=pid, owner_start=process_token(pid),
                timeout_seconds=timeout))
            return int(result.inserted_primary_key[0])

    def set_crawler(self, run_id: int, pid: int, workdir: str | None = None) -> None:
        """Record the crawl subprocess of a run and its work directory (both cleaned up if
        the run's owner dies and leaves them)."""
        with self.engine.begin() as conn:
            conn.execute(update(crawl_runs).where(crawl_runs.c.id == run_id).values(
                crawler_pid=pid, crawler_start=process_token(pid), workdir=workdir))

    def close_stale_runs(self, now: datetime | None = None) -> list[int]:
        """Finish as failed the runs left ``running`` by a process that is gone; their ids.

        A run of this host is stale once its owner process is gone (the pid ended, or now
        names another process: its start time differs); its crawler, if it still runs, is
        stopped and its work directory removed.  A run of another host, or one recorded
        without its owner (older versions), is stale once older than its timeout
        (UNKNOWN_TIMEOUT if none) plus STALE_MARGIN.
        """
        now = now or datetime.now(timezone.utc)
        host = socket.gethostname()
        with self.engine.connect() as conn:
            rows = conn.execute(select(crawl_runs).where(
                crawl_runs.c.status == RUNNING)).mappings().all()
        closed = []
        for row in rows:
            message = _stale_reason(row, host, now)
            if message is None:
                continue
            with self.engine.begin() as conn:  # unless its owner (or another opener) just did
                done = conn.execute(update(crawl_runs).where(
                    crawl_runs.c.id == row["id"], crawl_runs.c.status == RUNNING).values(
                    status="failed", finished_at=now, message=message)).rowcount
            if done:
                log.warning("crawl run %d of %s: %s", row["id"], row["source"], message)
                closed.append(row["id"])
            if row["host"] == host:
                _stop_orphan(row["crawler_pid"], row["crawler_start"])
                workdir = Path(row["workdir"] or "")
                if workdir.name.startswith("monitor-crawl-"):
                    shutil.rmtree(workdir, ignore_errors=True)
        return closed

    def finish_run(self, run_id: int, *, status: str, report: dict | None = None,
                   message: str = "", now: datetime | None = None) -> None:
        """Record how a crawl ended, with the counts from its report."""
        report = report or {}
        stored = report.get("ingest") or {}
        values = dict(finished_at=now or datetime.now(timezone.utc), status=status,
                      message=message[:2000], report=json.loads(json.dumps(report, default=str)),
                      items=report.get("items", 0), errors=report.get("errors", 0),
                      inserted=stored.get("inserted", 0), updated=stored.get("updated", 0),
                      unchanged=stored.get("unchanged", 0),
                      skipped=stored.get("skipped", 0) + report.get("skipped", 0))
        with self.engine.begin() as conn:
            conn.execute(update(crawl_runs).where(crawl_runs.c.id == run_id).values(**values))
            source = conn.execute(select(crawl_runs.c.source).where(
                crawl_runs.c.id == run_id)).scalar_one()
            self._advance_cursor(conn, source, stored, values["finished_at"])

    @staticmethod
    def _advance_cursor(conn, source: str, stored: dict, now: datetime) -> None:
        """Move the source's cursor forward after a run (never backwards)."""
        row = conn.execute(select(source_cursors).where(
            source_cursors.c.source == source)).mappings().first()
        newest = _utc(row["newest_published_at"]) if row else None
        seen = stored.get("newest_published_at")
        if seen:
            seen = datetime.fromisoformat(seen)
            newest = seen if newest is None or seen > newest else newest
        last_new = _utc(row["last_new_at"]) if row else None
        if stored.get("inserted") or stored.get("updated"):
            last_new = now
        values = dict(newest_published_at=newest, last_new_at=last_new, updated_at=now)
        if row:
            conn.execute(update(source_cursors).where(source_cursors.c.source == source)
                         .values(**values))
        else:
            conn.execute(insert(source_cursors).values(source=source, **values))

    def runs(self, source: str | None = None, limit: int = 20) -> list[CrawlRun]:
        """Most recent runs first."""
        query = select(crawl_runs).order_by(crawl_runs.c.id.desc()).limit(limit)
        if source:
            query = query.where(crawl_runs.c.source == source)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [CrawlRun(**{**row, "started_at": _utc(row["started_at"]),
                            "finished_at": _utc(row["finished_at"])}) for row in rows]

    def health(self, source: str) -> SourceHealth:
        """Runs so far, the last one, and how many in a row came back empty or failed."""
        recent = self.runs(source, limit=50)
        finished = [r for r in recent if r.status != "running"]
        empty = failed = 0
        for run in finished:
            if run.status == "empty" and not failed:
                empty += 1
            elif run.status == "failed" and not empty:
                failed += 1
            else:
                break
        success = next((r.finished_at for r in finished if r.status == "ok"), None)
        without_new = 0
        for run in finished:
            if run.inserted or run.updated:
                break
            without_new += 1
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(crawl_runs).where(
                crawl_runs.c.source == source)).scalar_one()
            cursor = conn.execute(select(source_cursors).where(
                source_cursors.c.source == source)).mappings().first()
        return SourceHealth(source, total, recent[0] if recent else None, success, empty, failed,
                            without_new,
                            _utc(cursor["newest_published_at"]) if cursor else None,
                            _utc(cursor["last_new_at"]) if cursor else None)

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()


def ensure_schema(engine, tables=None) -> None:
    """Create the missing ``tables`` (default: every table on :data:`metadata`) and the
    columns a table made by an older version lacks (new columns are nullable, without server
    defaults).  On SQLite under one write lock: processes opening a new file at once neither
    both create a table nor deadlock upgrading their locks."""
    tables = list(metadata.sorted_tables if tables is None else tables)
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            metadata.create_all(conn, tables=tables)
            _add_missing_columns(conn, tables)
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        metadata.create_all(conn, tables=tables)
        _add_missing_columns(conn, tables)
        conn.commit()


def _add_missing_columns(conn, tables) -> None:
    """ALTER TABLE … ADD COLUMN for every column a table made by an older version lacks."""
    inspector = inspect(conn)
    quote = conn.dialect.identifier_preparer.quote
    for table in tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                kind = column.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {quote(table.name)} "
                                     f"ADD COLUMN {quote(column.name)} {kind}")
                log.info("state database: added column %s.%s", table.name, column.name)


def _stale_reason(row, host: str, now: datetime) -> str | None:
    """Why a ``running`` row is abandoned, or None while its owner may still be at work."""
    pid = row["owner_pid"]
    if pid and row["host"] == host:
        if process_alive(pid, row["owner_start"]):
            return None
        return f"interrupted: the monitor process (pid {pid}) that ran it is gone"
    limit = (row["timeout_seconds"] or UNKNOWN_TIMEOUT) + STALE_MARGIN
    started = _utc(row["started_at"])
    if started is not None and (now - started).total_seconds() <= limit:
        return None
    who = (f"the monitor process (pid {pid} on host {row['host']})" if pid
           else "a monitor process of an older version (not recorded)")
    return f"interrupted: {who} that ran it did not finish it within {limit:g} s"


_BOOT_ID: list[str] = []


def _proc_stat(pid: int) -> list[bytes] | None:
    """Fields of /proc/<pid>/stat from the state on (field 3 → index 0), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_token(pid: int) -> str | None:
    """Boot id and start time of process ``pid`` (Linux), which tell it from a later process
    given the same pid; None where /proc cannot say."""
    fields = _proc_stat(pid)
    if fields is None or len(fields) < 20:
        return None
    if not _BOOT_ID:
        try:
            _BOOT_ID.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        except OSError:
            _BOOT_ID.append("")
    return f"{_BOOT_ID[0]}:{fields[19].decode()}"  # field 22: start time, clock ticks


def process_alive(pid: int | None, token: str | None = None) -> bool:
    """True while ``pid`` runs (a zombie does not) and, if ``token`` was recorded, is still the
    process it names.  Without /proc (not Linux) a reused pid passes for the old process."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user: only a matching token makes it ours
    if not Path("/proc/self/stat").exists():
        return True
    fields = _proc_stat(pid)
    if fields is None or fields[0] == b"Z":
        return False
    return token is None or process_token(pid) == token


def _stop_orphan(pid: int | None, token: str | None) -> None:
    """Stop a crawler whose monitor died.  It stops by itself (parent-death signal, watchdog)
    and flushes what it collected: it gets ORPHAN_GRACE for that, then SIGTERM, then SIGKILL.
    Only a process whose start token was recorded and still matches is touched."""
    if not pid or pid == os.getpid() or token is None:
        return
    for sig, wait in ((None, ORPHAN_GRACE), (signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
        deadline = time.monotonic() + wait
        if not process_alive(pid, token):
            return
        if sig is not None:
            log.warning("stopping the orphaned crawler (pid %d) with %s", pid, sig.name)
            try:
                if os.getpgid(pid) == pid:  # a session leader, as monitor.crawl starts it
                    os.killpg(pid, sig)
                else:
                    os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                return
        while time.monotonic() < deadline and process_alive(pid, token):
            time.sleep(0.05)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    # Switching a new file to WAL needs an exclusive lock and SQLite does not wait for it with
    # the busy handler; several crawls opening a new database at once retry for a while.
    for _ in range(200):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                break
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError:
            time.sleep(0.05)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
