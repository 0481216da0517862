"""The playbook of the six response categories of seed 001 (八): ``config/playbook.toml``
names the tasks each category requires — a title, the owner role, the due time after the
category is set — and :class:`Tasks` keeps them per incident in the state database.

```toml
[categories."虚假不实"]
basis = "seed 001 (八): …"

[categories."虚假不实".tasks.refer]      # key "虚假不实/refer"
title = "向公安、网信部门移交线索"
owner = "政府办"                        # a role of org.toml, or "责任单位"
due = "48h"                             # after the category is set (configuration)
```

:func:`load_playbook` checks it all and raises a ConfigError naming the file and the key.
:meth:`Tasks.create_for` runs in the caller's transaction (the one setting the category): it
creates the category's tasks (a key the incident has is not created twice), cancels the open
tasks of another category, and audits each act.  See docs/playbook.md.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy import (Column, DateTime, Integer, String, Table as SqlTable, Text,
                        UniqueConstraint, and_, insert, select, update)

from monitor import audit
from monitor.durations import parse_timedelta
from monitor.errors import ConfigError
from monitor.incident_tables import (CATEGORIES, CLOSED, TABLES as INCIDENT_TABLES, NotFound,
                                     Refused, hint, incident_events, incidents, iso, required,
                                     person, utc)
from monitor.org import Org, load_org
from monitor.policy import RESPONSIBLE_UNIT
from monitor.state import ensure_schema, metadata
from monitor.tomlfile import Table, one_line, read_toml

PLAYBOOK_FILE = "playbook.toml"
TOP_KEYS = {"categories"}
CATEGORY_KEYS = {"basis", "description", "tasks"}
TASK_KEYS = {"title", "owner", "due", "description"}
TASK_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
OPEN, DONE, CANCELLED = "open", "done", "cancelled"
SYSTEM = "playbook"  # the audit actor of tasks made or cancelled when no person is named

incident_tasks = SqlTable(
    "incident_tasks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident", String(32), nullable=False, index=True),
    Column("key", String(64), nullable=False),              # 虚假不实/refer
    Column("category", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("owner", String(128), nullable=False),           # a role of org.toml, or 责任单位
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("state", String(16), nullable=False),            # open | done | cancelled
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("done_by", String(128)),
    Column("done_at", DateTime(timezone=True)),
    Column("note", Text),
    UniqueConstraint("incident", "key", name="uq_incident_tasks_key"),
)


@dataclass
class TaskSpec:
    """One task a category requires, as the playbook defines it."""

    key: str                 # "<category>/<name>"
    category: str
    title: str
    owner: str
    due: timedelta           # after the category is set
    description: str = ""


@dataclass
class Playbook:
    """The tasks per category (empty, ``exists`` False, when there is no playbook.toml)."""

    path: Path | None = None
    categories: dict[str, list[TaskSpec]] = field(default_factory=dict)
    basis: dict[str, str] = field(default_factory=dict)
    exists: bool = False

    def tasks_for(self, category: str | None) -> list[TaskSpec]:
        """The tasks of ``category`` in the file's order (none for a category not listed)."""
        return list(self.categories.get(category or "", []))


def load_playbook(config_dir: Path, org: Org | None = None) -> Playbook:
    """Read ``config_dir/playbook.toml``, its owners checked against org.toml's roles (``org``,
    else loaded from ``config_dir``).  No file: an empty Playbook.  A bad file: a ConfigError
    naming the file and the key."""
    path = Path(config_dir) / PLAYBOOK_FILE
    if not path.exists() and not path.is_symlink():
        return Playbook(path=path)
    t = Table(read_toml(path), path)
    t.reject_unknown(TOP_KEYS)
    org = load_org(config_dir) if org is None else org
    cats = t.table("categories")
    book = Playbook(path=path, exists=True)
    for name, value in cats.data.items():
        key = cats._key(name)
        if name not in CATEGORIES:
            raise ConfigError(f"unknown category {name!r}{hint(name, CATEGORIES)} (one of "
                              f"{', '.join(CATEGORIES)})", path=path, key=key)
        if not isinstance(value, dict):
            raise ConfigError(f'expected a table: [categories."{name}"] with its tasks below '
                              f"it, got {value!r}", path=path, key=key)
        ct = Table(value, path, key)
        ct.reject_unknown(CATEGORY_KEYS)
        book.basis[name] = one_line(ct, "basis")
        one_line(ct, "description")
        tasks = ct.table("tasks")
        if not tasks.data:
            raise ConfigError(f'no tasks; add one, e.g. [categories."{name}".tasks.publish]',
                              path=path, key=tasks.prefix)
        book.categories[name] = [_task(name, task, tasks, org) for task in tasks.data]
    return book


def _task(category: str, name: str, tasks: Table, org: Org) -> TaskSpec:
    key = tasks._key(name)
    if not TASK_NAME.match(name):
        raise ConfigError("a task name is lower-case ASCII letters, digits, - or _ (it is part "
                          "of the task's key, e.g. 虚假不实/refer)", path=tasks.path, key=key)
    t = Table(tasks.data[name], tasks.path, key)
    t.reject_unknown(TASK_KEYS)
    title = one_line(t, "title")
    if not title:
        raise ConfigError("missing; every task needs a title, e.g. 公开采纳情况", path=t.path,
                          key=t._key("title"))
    owner = t.get("owner", str, None, required=True).strip()
    known = [RESPONSIBLE_UNIT, *org.roles]
    if owner not in known:
        where = (f"{org.path or 'org.toml'} does not exist" if not org.exists
                 else f'define it in org.toml as [roles."{owner}"]')
        person = " (that is a person; owner names a role)" if owner in org.contacts else ""
        raise ConfigError(f"unknown role {owner!r}{hint(owner, known)}{person} ({where})",
                          path=t.path, key=t._key("owner"))
    due = t.get("due", str, None, required=True)
    try:
        delta = parse_timedelta(due)
    except ValueError as exc:
        raise ConfigError(str(exc), path=t.path, key=t._key("due")) from None
    return TaskSpec(key=f"{category}/{name}", category=category, title=title, owner=owner,
                    due=delta, description=one_line(t, "description"))


@dataclass
class Task:
    """One task of one incident, as stored."""

    id: int
    incident_id: str
    key: str
    category: str
    title: str
    owner: str
    due_at: datetime
    state: str
    created_at: datetime
    done_by: str | None = None
    done_at: datetime | None = None
    note: str | None = None

    @classmethod
    def from_row(cls, row) -> "Task":
        """Build from an ``incident_tasks`` row (times made aware)."""
        return cls(id=row.id, incident_id=row.incident, key=row.key, category=row.category,
                   title=row.title, owner=row.owner, due_at=utc(row.due_at), state=row.state,
                   created_at=utc(row.created_at), done_by=row.done_by,
                   done_at=utc(row.done_at), note=row.note)

    def late(self, now: datetime) -> timedelta | None:
        """How far past its due time an open task is at ``now`` (None: not overdue)."""
        return now - self.due_at if self.state == OPEN and now >= self.due_at else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times as ISO 8601 UTC)."""
        return {k: iso(v) if isinstance(v, datetime) else v for k, v in self.__dict__.items()}


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Tasks:
    """The playbook tasks of incidents.  ``people``: the names allowed to complete a task
    (org.toml's contacts); None allows anyone (library use)."""

    def __init__(self, engine, *, clock: Callable[[], datetime] = _utcnow,
                 people: Iterable[str] | None = None):
        ensure_schema(engine, [incident_tasks, *INCIDENT_TABLES, *audit.TABLES])
        self.engine = engine
        self.clock = clock
        self.people = None if people is None else list(people)

    def create_for(self, conn, incident_id: str, category: str | None, at: datetime,
                   playbook: Playbook, *, by: str = SYSTEM) -> list[Task]:
        """In the caller's transaction ``conn``: cancel the incident's open tasks of any other
        category, then create the tasks ``playbook`` gives ``category``, due after ``at`` (the
        moment the category was set).  A key the incident has is not created again (a
        cancelled one is reopened, due anew).  Returns the tasks created or reopened."""
        at = utc(at)
        specs = playbook.tasks_for(category)
        rows = {r.key: r for r in conn.execute(select(incident_tasks).where(
            incident_tasks.c.incident == incident_id)).all()}
        cancelled = []
        for row in rows.values():
            if row.state == OPEN and row.category != category:
                conn.execute(update(incident_tasks).where(incident_tasks.c.id == row.id)
                             .values(state=CANCELLED))
                audit.record(conn, actor=by, action="incident.task_cancel", target=incident_id,
                             before={"key": row.key, "state": OPEN},
                             after={"key": row.key, "state": CANCELLED},
                             reason=f"category changed to {category or 'unset'}", at=at)
                cancelled.append(row.key)
        made = []
        for spec in specs:
            due = at + spec.due
            row = rows.get(spec.key)
            values = dict(title=spec.title, owner=spec.owner, due_at=due, state=OPEN,
                          category=spec.category)
            after = {"key": spec.key, "owner": spec.owner, "due_at": iso(due), "state": OPEN}
            if row is None:
                conn.execute(insert(incident_tasks).values(
                    incident=incident_id, key=spec.key, created_at=at, **values))
                action = "incident.task_create"
                before = None
            elif row.state == CANCELLED:
                conn.execute(update(incident_tasks).where(incident_tasks.c.id == row.id)
                             .values(**values, done_by=None, done_at=None, note=None))
                action = "incident.task_reopen"
                before = {"key": spec.key, "state": CANCELLED}
            else:
                continue  # open or done: already there
            audit.record(conn, actor=by, action=action, target=incident_id, before=before,
                         after=after, reason=f"category {category}", at=at)
            made.append(spec.key)
        if made or cancelled:
            text = "；".join(part for part in (
                "任务：" + "、".join(s.title for s in specs if s.key in made) if made else "",
                f"取消 {len(cancelled)} 项原类别任务" if cancelled else "") if part)
            conn.execute(insert(incident_events).values(
                incident_id=incident_id, at=at, recorded_at=utc(self.clock()), actor=by,
                kind="tasks",
                text=text, data={"created": made, "cancelled": cancelled}))
        return [t for t in self._rows(conn, incident_id) if t.key in made]

    def done(self, incident_id: str, key: str, *, by: str, note: str) -> Task:
        """Record that a person did the task (who, when, a note saying what was done, e.g. the
        URL it was published at).  Refused, and audited: an unknown person, incident or task,
        a task that is not open, a closed incident, no note."""
        now = utc(self.clock())
        try:
            name = self._check_person(by)
            with audit.transaction(self.engine) as conn:
                inc = conn.execute(select(incidents.c.state).where(
                    incidents.c.id == incident_id)).first()
                if inc is None:
                    raise NotFound(f"no incident {incident_id!r}; see monitor incidents list "
                                   "--state all")
                tasks = {t.key: t for t in self._rows(conn, incident_id)}
                task = tasks.get((key or "").strip())
                if task is None:
                    known = ", ".join(tasks) or "none yet: set its category first"
                    raise NotFound(f"incident {incident_id} has no task {key!r}"
                                   f"{hint(key or '', tasks)} (its tasks: {known})")
                if inc.state == CLOSED:
                    raise Refused(f"incident {incident_id} is closed; its tasks can no longer "
                                  "change")
                if task.state != OPEN:
                    by_whom = f" by {task.done_by}" if task.done_by else ""
                    raise Refused(f"task {task.key} of {incident_id} is {task.state}{by_whom}; "
                                  "only an open task can be done")
                text = required(note, "say what was done (--note), e.g. the URL it was "
                                      "published at")
                conn.execute(update(incident_tasks).where(incident_tasks.c.id == task.id)
                             .values(state=DONE, done_by=name, done_at=now, note=text))
                late = task.late(now)
                conn.execute(insert(incident_events).values(
                    incident_id=incident_id, at=now, recorded_at=now, actor=name,
                    kind="task_done", text=f"完成任务：{task.title}" + (
                        f"（超期 {late // timedelta(minutes=1)} 分钟）" if late else ""),
                    data={"key": task.key}))
                # the note is free text (it may quote the public): it stays in the task table
                audit.record(conn, actor=name, action="incident.task_done", target=incident_id,
                             before={"key": task.key, "state": OPEN},
                             after={"key": task.key, "state": DONE, "late": bool(late)}, at=now)
                return next(t for t in self._rows(conn, incident_id) if t.key == task.key)
        except (NotFound, Refused) as exc:
            with audit.transaction(self.engine) as conn:
                audit.record(conn, actor=(by or "").strip() or "(nobody)",
                             action="incident.task_done", target=incident_id,
                             after={"key": key}, refused=True, reason=str(exc), at=now)
            raise

    def _check_person(self, by: str) -> str:
        return person(by, self.people)

    def _rows(self, conn, incident_id: str) -> list[Task]:
        return [Task.from_row(r) for r in conn.execute(select(incident_tasks).where(
            incident_tasks.c.incident == incident_id).order_by(incident_tasks.c.id))]

    def list(self, incident_id: str) -> list[Task]:
        """The incident's tasks in the order they were created (every state)."""
        with self.engine.connect() as conn:
            if conn.execute(select(incidents.c.id).where(
                    incidents.c.id == incident_id)).first() is None:
                raise NotFound(f"no incident {incident_id!r}; see monitor incidents list "
                               "--state all")
            return self._rows(conn, incident_id)

    def overdue(self, now: datetime | None = None) -> list[Task]:
        """The open tasks of open incidents due at or before ``now`` (default: the clock),
        most overdue first."""
        now = utc(now or self.clock())
        query = select(incident_tasks).join(incidents, incidents.c.id == incident_tasks.c.incident
                                            ).where(and_(incident_tasks.c.state == OPEN,
                                                         incidents.c.state != CLOSED,
                                                         incident_tasks.c.due_at <= now)
                                                    ).order_by(incident_tasks.c.due_at,
                                                               incident_tasks.c.id)
        with self.engine.connect() as conn:
            return [Task.from_row(r) for r in conn.execute(query)]
