"""Workflow state in SQL (SQLite by default) through SQLAlchemy: crawl runs, source cursors.

This is the system's memory, separate from the document store: it is relational and
transactional, and later work (incidents, clocks, alerts, audit) adds its tables here.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (JSON, Column, DateTime, Integer, MetaData, String, Table, Text,
                        create_engine, event, func, insert, select, update)
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StoreError

metadata = MetaData()

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
            self._create_tables(url)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"cannot open the workflow-state database {url}: "
                             f"{getattr(exc, 'orig', None) or exc}") from exc

    def _create_tables(self, url: str) -> None:
        """Create missing tables; on SQLite under one write lock, as crawls may start together."""
        if not url.startswith("sqlite"):
            metadata.create_all(self.engine)
            return
        with self.engine.connect() as conn:
            # take the write lock before reading the schema, so that two processes opening a
            # new file at once neither both create a table nor deadlock upgrading their locks
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            metadata.create_all(conn)
            conn.commit()

    def start_run(self, source: str, now: datetime | None = None) -> int:
        """Record that a crawl started; return its id."""
        with self.engine.begin() as conn:
            result = conn.execute(insert(crawl_runs).values(
                source=source, started_at=now or datetime.now(timezone.utc), status="running"))
            return int(result.inserted_primary_key[0])

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
