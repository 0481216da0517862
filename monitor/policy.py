"""Clock policies: ``config/escalation.toml`` — per incident level, the release target and
limit, the press conference, the rolling-release reminders, and who is told at each step.

```toml
[levels."重大"]
basis = "seed 001 (八); 002 row 34; 003 (五-(二))"

[levels."重大".release_target]          # 力争 3 小时 (a target: missing it is not a breach)
anchor = "detected"                      # occurred | detected | confirmed
due = "3h"
warn_at = ["2h", "2h30m"]                # elapsed since the anchor, before the deadline
notify = [["责任单位"], ["责任单位", "政府办"], ["责任单位", "政府办", "宣传部", "网信办"]]

[levels."重大".release_limit]           # 最迟不超过 5 小时 (required: passing it is a breach)
...
[levels."重大".press_conference]        # 24 小时内举行新闻发布会 (a limit too)
...
[levels."重大".rolling_release]         # 持续发布: a reminder every N hours until closed
anchor = "released"
every = "6h"
notify = [["责任单位", "新闻发言人"]]
```

``notify`` has one list of role names (from org.toml, or the reserved :data:`RESPONSIBLE_UNIT`)
per ``warn_at`` step and one more for the deadline.  :func:`load_policy` checks it all and
raises a ConfigError naming the file and the key; :func:`due_steps` turns a clock and an
incident's anchor times into steps with stable idempotency keys.  docs/escalation.md describes
every key.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Iterable
from zoneinfo import ZoneInfo

from monitor.durations import format_duration, parse_timedelta
from monitor.errors import ConfigError, MonitorError
from monitor.org import Org, load_org
from monitor.tomlfile import Table, one_line, read_toml

ESCALATION_FILE = "escalation.toml"
#: The moments a clock may count from, earliest first; an incident records all three.
ANCHORS = ("occurred", "detected", "confirmed")
#: The first authoritative release: only rolling reminders may count from it.
RELEASED = "released"
#: Stands for the incident's responsible unit in ``notify`` (resolved per incident).
RESPONSIBLE_UNIT = "责任单位"
#: Clock tables of a level, in the order they are listed, and the kind of each.
CLOCK_KINDS = {"release_target": "target", "release_limit": "limit",
               "press_conference": "press", "rolling_release": "rolling"}
#: What stops a clock of each kind (the service's business; listed here so it is one table).
STOPPED_BY = {"target": "release", "limit": "release", "press": "press-conference",
              "rolling": "close"}
TOP_KEYS = {"levels"}
LEVEL_KEYS = {"basis", "description", *CLOCK_KINDS}
CLOCK_KEYS = {"anchor", "due", "warn_at", "notify", "basis", "description"}
ROLLING_KEYS = {"anchor", "every", "notify", "basis", "description"}


class UnknownLevel(MonitorError):
    """An incident level that escalation.toml does not define."""


@dataclass
class Clock:
    """One clock of a level: due ``due`` after ``anchor`` (for ``rolling``: every ``due``)."""

    name: str                        # the table's name: release_target, release_limit, …
    anchor: str                      # occurred | detected | confirmed (| released: rolling)
    due: timedelta                   # the deadline after the anchor; rolling: the interval
    warn: list[timedelta]            # warn steps, elapsed since the anchor, before ``due``
    notify: list[list[str]]          # roles per step: one per warn step, then the deadline's
    kind: str                        # target | limit | press | rolling
    basis: str = ""

    @property
    def breach(self) -> bool:
        """Whether passing the deadline is a breach (limits and the press conference)."""
        return self.kind in ("limit", "press")

    @property
    def stopped_by(self) -> str:
        """The incident action that stops this clock: release, press-conference or close."""
        return STOPPED_BY[self.kind]


@dataclass
class LevelPolicy:
    """The clocks of one incident level (特别重大, 重大 …)."""

    name: str
    clocks: list[Clock]
    basis: str = ""
    description: str = ""

    def clock(self, name: str) -> Clock | None:
        """The clock named ``name`` (``release_limit`` …) or of that kind (``limit``)."""
        return next((c for c in self.clocks if name in (c.name, c.kind)), None)


@dataclass
class Step:
    """One moment a clock acts: a warning, its deadline, or a rolling reminder."""

    key: str                         # f"{clock}/{warn index}", f"{clock}/due", f"{clock}/{n}"
    at: datetime                     # aware, UTC
    kind: str                        # warn | deadline | reminder
    roles: list[str]
    clock: str = ""
    elapsed: timedelta = timedelta(0)  # since the anchor
    breach: bool = False             # the deadline of a limit: record a breach when it passes

    def local(self, zone: str | tzinfo = "Asia/Shanghai") -> datetime:
        """``at`` in the office's time zone, for showing to people."""
        return self.at.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone)


@dataclass
class Policy:
    """Every level of escalation.toml, in the file's order (empty when there is no file)."""

    path: Path | None = None
    levels: dict[str, LevelPolicy] = field(default_factory=dict)
    exists: bool = False

    def names(self) -> list[str]:
        """The level names, in the file's order."""
        return list(self.levels)

    def level(self, name: str) -> LevelPolicy:
        """The policy of level ``name``; UnknownLevel (one line, with a suggestion) if none."""
        found = self.levels.get(name.strip() if isinstance(name, str) else name)
        if found is not None:
            return found
        if not self.exists:
            raise UnknownLevel(f"unknown level {name!r}: {self.path or ESCALATION_FILE} does "
                               "not exist (monitor init writes one)")
        raise UnknownLevel(f"unknown level {name!r}{_hint(str(name), self.levels)} (levels in "
                           f"{self.path}: {', '.join(self.levels)})")

    def clocks_for(self, level: str) -> list[Clock]:
        """The clocks of level ``level``: release target (if any), limit, press, rolling."""
        return list(self.level(level).clocks)


def due_steps(clock: Clock, anchors: dict[str, datetime], *,
              until: datetime | None = None) -> list[Step]:
    """The steps of ``clock`` counted from ``anchors[clock.anchor]`` (aware datetimes), in
    time order, each at an aware UTC time with a stable key.  No anchor time: no steps (the
    clock has not started).

    A rolling clock repeats until closed, so it returns its reminders up to ``until`` and the
    first one after it (with no ``until``, just the first).  Pure: nothing is read or stored.
    """
    start = anchors.get(clock.anchor)
    if start is None:
        return []
    start = _utc(start, clock.anchor)
    if clock.kind == "rolling":
        horizon = start if until is None else max(_utc(until, "until"), start)
        last = (horizon - start) // clock.due + 1
        return [Step(key=f"{clock.name}/{n}", at=start + n * clock.due, kind="reminder",
                     roles=list(clock.notify[0]), clock=clock.name, elapsed=n * clock.due)
                for n in range(1, last + 1)]
    steps = [Step(key=f"{clock.name}/{i}", at=start + warn, kind="warn",
                  roles=list(clock.notify[i]), clock=clock.name, elapsed=warn)
             for i, warn in enumerate(clock.warn)]
    steps.append(Step(key=f"{clock.name}/due", at=start + clock.due, kind="deadline",
                      roles=list(clock.notify[-1]), clock=clock.name, elapsed=clock.due,
                      breach=clock.breach))
    return steps


def _utc(moment: datetime, what: str) -> datetime:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{what}: expected a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(timezone.utc)


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def load_policy(config_dir: Path, org: Org | None = None) -> Policy:
    """Read ``config_dir/escalation.toml``, its role names checked against org.toml (``org``,
    else loaded from ``config_dir``).  No file: an empty Policy.  A bad file: a ConfigError
    naming the file and the key."""
    path = Path(config_dir) / ESCALATION_FILE
    if not path.exists() and not path.is_symlink():
        return Policy(path=path)
    t = Table(read_toml(path), path)
    org = load_org(config_dir) if org is None else org
    if RESPONSIBLE_UNIT in org.roles:
        raise ConfigError(f"{RESPONSIBLE_UNIT!r} is reserved: escalation.toml uses it for the "
                          "incident's responsible unit; give the role another name",
                          path=org.path, key=f"roles.{RESPONSIBLE_UNIT}")
    levels = t.table("levels")
    t.reject_unknown(TOP_KEYS)
    if not levels.data:
        raise ConfigError('no levels; define at least one, e.g. [levels."重大".release_limit]',
                          path=path, key="levels")
    policy = Policy(path=path, exists=True)
    for name, value in levels.data.items():
        key = levels._key(name)
        if not name.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
            raise ConfigError("a level name must be visible text on one line", path=path,
                              key=levels._key(repr(name)))
        if not isinstance(value, dict):
            raise ConfigError(f'expected a table: [levels."{name}"] with its clocks below it, '
                              f"got {value!r}", path=path, key=key)
        policy.levels[name.strip()] = _level(name.strip(), Table(value, path, key), org)
    return policy


def _level(name: str, t: Table, org: Org) -> LevelPolicy:
    t.reject_unknown(LEVEL_KEYS)
    basis, description = one_line(t, "basis"), one_line(t, "description")
    clocks = [_clock(clock, CLOCK_KINDS[clock], t.table(clock), org)
              for clock in CLOCK_KINDS if clock in t.data]
    kinds = {c.kind: c for c in clocks}
    if "limit" not in kinds:
        raise ConfigError("missing; every level needs a release limit (最迟, e.g. due = \"5h\")",
                          path=t.path, key=t._key("release_limit"))
    target, limit = kinds.get("target"), kinds["limit"]
    if target is not None:
        if target.anchor != limit.anchor:
            raise ConfigError(f"{target.anchor!r} differs from release_limit's anchor "
                              f"{limit.anchor!r}; the target and the limit of one release "
                              "count from the same moment", path=t.path,
                              key=t._key("release_target.anchor"))
        if target.due >= limit.due:
            raise ConfigError(f"the target ({format_duration(target.due)}) is not before the "
                              f"limit ({format_duration(limit.due)}); a target comes first",
                              path=t.path, key=t._key("release_target.due"))
    return LevelPolicy(name=name, clocks=clocks, basis=basis, description=description)


def _duration(t: Table, key: str, value) -> timedelta:
    if not isinstance(value, str):
        raise ConfigError(f'expected a duration such as "3h", "2h30m" or "45m", got {value!r}',
                          path=t.path, key=t._key(key))
    try:
        return parse_timedelta(value)
    except ValueError as exc:
        raise ConfigError(str(exc), path=t.path, key=t._key(key)) from None


def _clock(name: str, kind: str, t: Table, org: Org) -> Clock:
    rolling = kind == "rolling"
    if rolling and "warn_at" in t.data:
        raise ConfigError("rolling reminders have no warn_at steps; set every", path=t.path,
                          key=t._key("warn_at"))
    if rolling and "due" in t.data:
        raise ConfigError('a rolling reminder repeats: write every = "6h" instead of due',
                          path=t.path, key=t._key("due"))
    t.reject_unknown(ROLLING_KEYS if rolling else CLOCK_KEYS)  # a misspelt key first
    anchor = t.get("anchor", str, None, required=True).strip()
    allowed = [*ANCHORS, RELEASED] if rolling else list(ANCHORS)
    if anchor not in allowed:
        expected = f"expected one of {', '.join(allowed)}"
        if anchor == RELEASED:
            raise ConfigError(f"{anchor!r}: only rolling_release may count from the release; "
                              f"{expected}", path=t.path, key=t._key("anchor"))
        raise ConfigError(f"unknown anchor {anchor!r}{_hint(anchor, allowed)} ({expected})",
                          path=t.path, key=t._key("anchor"))
    due_key = "every" if rolling else "due"
    due = _duration(t, due_key, t.get(due_key, str, None, required=True))
    warn: list[timedelta] = []
    for i, item in enumerate(t.get("warn_at", list, [])):
        step = _duration(t, f"warn_at[{i}]", item)
        if step >= due:
            raise ConfigError(f"{item!r} is at or after the deadline ({due_key} = "
                              f"{format_duration(due)!r}); a warning comes before it",
                              path=t.path, key=t._key("warn_at"))
        if warn and step <= warn[-1]:
            raise ConfigError(f"{item!r} is not after the step before it "
                              f"({format_duration(warn[-1])!r}); list the steps in order",
                              path=t.path, key=t._key("warn_at"))
        warn.append(step)
    notify = _notify(t, len(warn) + 1, org)
    basis = one_line(t, "basis")
    one_line(t, "description")
    return Clock(name=name, anchor=anchor, due=due, warn=warn, notify=notify, kind=kind,
                 basis=basis)


def _notify(t: Table, steps: int, org: Org) -> list[list[str]]:
    """``notify``: ``steps`` non-empty lists of role names that org.toml defines."""
    value = t.get("notify", list, None, required=True)
    key = t._key("notify")
    shape = ("one list of roles per warn_at step, then one for the deadline" if steps > 1
             else "one list of roles, e.g. [[\"责任单位\", \"政府办\"]]")
    if len(value) != steps or not all(isinstance(v, list) for v in value):
        got = (f"{len(value)} list(s)" if all(isinstance(v, list) for v in value)
               else f"{value!r}")
        raise ConfigError(f"expected {steps} list(s) of roles ({shape}), got {got}",
                          path=t.path, key=key)
    known = [RESPONSIBLE_UNIT, *org.roles]
    result = []
    for i, roles in enumerate(value):
        if not roles:
            raise ConfigError(f"step {i + 1} tells nobody; name at least one role", path=t.path,
                              key=key)
        names = []
        for role in roles:
            if not isinstance(role, str) or not role.strip():
                raise ConfigError(f"expected role names, got {role!r}", path=t.path, key=key)
            role = role.strip()
            if role not in known:
                raise ConfigError(f"unknown role {role!r}{_hint(role, known)}"
                                  f"{_why_unknown(role, org)}", path=t.path, key=key)
            names.append(role)
        result.append(list(dict.fromkeys(names)))
    return result


def _why_unknown(role: str, org: Org) -> str:
    if role in org.contacts:
        return " (that is a person; notify names roles: add a role for them in org.toml)"
    if not org.exists:
        return f" ({org.path or 'org.toml'} does not exist)"
    return f' (define it in {org.path.name if org.path else "org.toml"} as [roles."{role}"])'
