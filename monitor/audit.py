"""The audit trail: an append-only, hash-chained record of what people did and what was refused.

Every row keeps who (``actor``), when (``at``, UTC), what (``action`` on ``target``, an id, never
a message text) and the state ``before`` and ``after`` (JSON), whether the attempt was
``refused`` and why.  Each row's ``hash`` is the SHA-256 of its predecessor's hash followed by
the canonical JSON of its own fields, so an edited, deleted or smuggled-in row breaks the chain;
a one-row table ``audit_head`` (updated in the same transaction) keeps the row count, the last
id and the last hash, so rows cut off the end are caught as well.  See docs/audit.md.

:func:`record` writes inside the caller's transaction: an action and its audit row commit or
roll back together.  It takes the database's write lock first (an UPDATE of the head row), so
two processes recording at once are serialised and the chain stays linear.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from sqlalchemy import (DDL, JSON, Boolean, Column, DateTime, Integer, String, Table, Text, event,
                        func, insert, select, update)

from monitor.state import ensure_schema, metadata

GENESIS = "0" * 64  # the prev_hash of the first row
HEAD_ID = 1

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # 1, 2, 3 … without gaps
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(128), nullable=False, index=True),
    Column("action", String(64), nullable=False, index=True),
    Column("target", String(255), nullable=False, default=""),
    Column("before", JSON),
    Column("after", JSON),
    Column("refused", Boolean, nullable=False, default=False),
    Column("reason", Text, nullable=False, default=""),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always HEAD_ID
    Column("rows", Integer, nullable=False),
    Column("last_id", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

# On SQLite the table refuses UPDATE and DELETE: the application cannot change history by
# mistake.  Whoever holds the file can drop the triggers; the hash chain is what catches that.
for _verb in ("UPDATE", "DELETE"):
    event.listen(audit_log, "after_create", DDL(
        f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{_verb.lower()} BEFORE {_verb} ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END").execute_if(dialect="sqlite"))

TABLES = [audit_log, audit_head]


@dataclass
class Entry:
    """One row of the audit trail."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any
    refused: bool
    reason: str
    prev_hash: str
    hash: str

    def as_dict(self) -> dict:
        """The row as plain JSON values (``at`` as ISO 8601 UTC)."""
        return {**self.__dict__, "at": _at_text(self.at)}


@dataclass
class Problem:
    """Something :func:`verify` found wrong: the row it concerns (None for the head) and what."""

    row_id: int | None
    kind: str  # edited | deleted | out-of-order | head | rewritten
    message: str

    def __str__(self) -> str:
        where = f"row {self.row_id}" if self.row_id is not None else "head"
        return f"{where}: {self.kind}: {self.message}"


def ensure(engine) -> None:
    """Create the audit tables (and their SQLite triggers) if missing."""
    ensure_schema(engine, TABLES)


@contextlib.contextmanager
def transaction(engine) -> Iterator:
    """A transaction holding the write lock from its start (``BEGIN IMMEDIATE`` on SQLite).

    Use it when the caller reads before it writes and records: a plain deferred SQLite
    transaction that read first may be refused the lock (database is locked) if another process
    wrote in between.
    """
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.begin()
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None \
        else value.astimezone(timezone.utc)


def _at_text(value: datetime) -> str:
    """``at`` as hashed and exported: UTC, microseconds, ``Z`` (the same before and after a
    round trip through a database that drops the zone)."""
    v = _utc(value)
    return (f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:"
            f"{v.second:02d}.{v.microsecond:06d}Z")


def _plain(value: Any) -> Any:
    """``value`` as it reads back from a JSON column (datetimes and other objects as text)."""
    if value is None:
        return None
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def row_hash(prev_hash: str, *, id: int, at: datetime, actor: str, action: str, target: str,
             before: Any, after: Any, refused: bool, reason: str) -> str:
    """SHA-256 (hex) of ``prev_hash`` followed by the canonical JSON of the row's fields."""
    fields = {"id": int(id), "at": _at_text(at), "actor": actor, "action": action,
              "target": target, "before": before, "after": after, "refused": bool(refused),
              "reason": reason}
    canonical = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def record(conn, *, actor: str, action: str, target: str, before=None, after=None,
           refused: bool = False, reason: str = "", at: datetime | None = None) -> int:
    """Append one hash-chained row inside the caller's transaction ``conn``; return its id.

    ``target`` names what was acted on by id (``incident:12``), never by message text.
    ``before``/``after`` are JSON-able (other objects are stored as their text).
    """
    if not actor or not action:
        raise ValueError("an audit row needs an actor and an action")
    # The write lock first: a no-op UPDATE of the head row.  Everything read after it is the
    # latest committed state, and no other process can append until this transaction ends.
    locked = conn.execute(update(audit_head).where(audit_head.c.id == HEAD_ID)
                          .values(rows=audit_head.c.rows)).rowcount
    if not locked:  # the first row ever (or the head was deleted: verify reports that)
        last = conn.execute(select(audit_log.c.id, audit_log.c.hash)
                            .order_by(audit_log.c.id.desc()).limit(1)).first()
        count = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
        conn.execute(insert(audit_head).values(id=HEAD_ID, rows=count,
                                               last_id=last.id if last else 0,
                                               hash=last.hash if last else GENESIS))
    head = conn.execute(select(audit_head).where(audit_head.c.id == HEAD_ID)).one()
    values = dict(id=head.last_id + 1, at=_utc(at or datetime.now(timezone.utc)),
                  actor=str(actor), action=str(action), target=str(target or ""),
                  before=_plain(before), after=_plain(after), refused=bool(refused),
                  reason=str(reason or ""))
    digest = row_hash(head.hash, **values)
    conn.execute(insert(audit_log).values(**values, prev_hash=head.hash, hash=digest))
    conn.execute(update(audit_head).where(audit_head.c.id == HEAD_ID).values(
        rows=head.rows + 1, last_id=values["id"], hash=digest))
    return values["id"]


def _entry(row) -> Entry:
    return Entry(id=row.id, at=_utc(row.at), actor=row.actor, action=row.action,
                 target=row.target, before=row.before, after=row.after,
                 refused=bool(row.refused), reason=row.reason or "", prev_hash=row.prev_hash,
                 hash=row.hash)


def entries(engine, *, since: datetime | None = None, until: datetime | None = None,
            actor: str | None = None, action: str | None = None, refused: bool | None = None,
            limit: int | None = None, newest_first: bool = False) -> Iterator[Entry]:
    """Rows of the trail in id order (or newest first), filtered by time (``since`` ≤ at <
    ``until``), actor, action and whether the attempt was refused."""
    query = select(audit_log)
    if since is not None:
        query = query.where(audit_log.c.at >= _utc(since))
    if until is not None:
        query = query.where(audit_log.c.at < _utc(until))
    if actor:
        query = query.where(audit_log.c.actor == actor)
    if action:
        query = query.where(audit_log.c.action == action)
    if refused is not None:
        query = query.where(audit_log.c.refused == refused)
    query = query.order_by(audit_log.c.id.desc() if newest_first else audit_log.c.id)
    if limit:
        query = query.limit(limit)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=1000).execute(query):
            yield _entry(row)


def head(engine) -> tuple[int, int, str] | None:
    """(rows, last id, last hash) as the head table keeps them, or None before the first row."""
    with engine.connect() as conn:
        row = conn.execute(select(audit_head).where(audit_head.c.id == HEAD_ID)).first()
    return (row.rows, row.last_id, row.hash) if row else None


def verify(engine, *, known: Iterable[str] = ()) -> list[Problem]:
    """Walk the chain and name every row edited, deleted or inserted out of order; check the
    head (rows cut off the end).  An empty list means the chain is intact.

    ``known`` are head hashes kept elsewhere earlier (a printed report, another machine): each
    must still be the hash of some row, or the chain was rewritten from that point on.
    """
    problems: list[Problem] = []
    wanted = {h.strip().lower() for h in known if h and h.strip()}
    prev_id, prev_hash, count = 0, GENESIS, 0
    with engine.connect() as conn:  # one snapshot for the rows and the head
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")
        rows = conn.execution_options(yield_per=1000).execute(
            select(audit_log).order_by(audit_log.c.id))
        for row in rows:
            count += 1
            e = _entry(row)
            expected = row_hash(e.prev_hash, id=e.id, at=e.at, actor=e.actor, action=e.action,
                                target=e.target, before=e.before, after=e.after,
                                refused=e.refused, reason=e.reason)
            if expected != e.hash:
                problems.append(Problem(e.id, "edited",
                                        "its fields do not match its hash (the row was changed)"))
            if e.id != prev_id + 1:
                missing = (f"row {prev_id + 1} is" if e.id == prev_id + 2
                           else f"rows {prev_id + 1}–{e.id - 1} are")
                problems.append(Problem(e.id, "deleted", f"{missing} missing before it"))
            elif e.prev_hash != prev_hash:
                what = f"row {prev_id}'s hash" if prev_id else "the start of the chain"
                problems.append(Problem(e.id, "out-of-order",
                                        f"its prev_hash does not match {what} (inserted out of "
                                        "order, or the row before it was rewritten)"))
            wanted.discard(e.hash)
            prev_id, prev_hash = e.id, e.hash
        top = conn.execute(select(audit_head).where(audit_head.c.id == HEAD_ID)).first()
        if conn.in_transaction():
            conn.rollback()
    gaps = any(p.kind == "deleted" for p in problems)
    problems.extend(_check_head(top, count, prev_id, prev_hash, gaps))
    problems.extend(Problem(None, "rewritten", f"the head hash {h} kept earlier is not in the "
                            "chain (the chain was rewritten, or the hash is mistyped)")
                    for h in sorted(wanted))
    return problems


def _check_head(top, count: int, last_id: int, last_hash: str, gaps: bool) -> list[Problem]:
    """Compare the head row with the end of the chain as walked (``gaps``: deleted rows were
    already reported, which explains a count that differs)."""
    if top is None:
        return [Problem(None, "head", f"the head row is missing but {count} rows exist")] \
            if count else []
    if top.last_id > last_id:
        missing = (f"row {top.last_id} is" if top.last_id == last_id + 1
                   else f"rows {last_id + 1}–{top.last_id} are")
        return [Problem(top.last_id, "deleted",
                        f"{missing} missing at the end (the head records {top.rows} rows up "
                        f"to id {top.last_id}; {count} remain)")]
    if top.last_id < last_id:
        return [Problem(last_id, "out-of-order",
                        f"rows after id {top.last_id} were added outside the audit trail (the "
                        f"head records {top.rows} rows up to id {top.last_id})")]
    problems = []
    if top.hash != last_hash:
        problems.append(Problem(last_id, "edited",
                                "its hash does not match the head (the last row was replaced)"))
    if top.rows != count and not gaps:
        problems.append(Problem(None, "head",
                                f"the head records {top.rows} rows; {count} exist"))
    return problems
