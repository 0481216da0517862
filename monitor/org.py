"""People and roles: ``config/org.toml`` — who is told, through which channels, and who next.

```toml
[contacts."张伟"]
title = "网信办舆情值班员"
phone = "0518-8xxxxxxx"            # shown to people, never dialled
channels = ["duty-dingtalk"]        # channel instances of channels.toml

[roles."值班员"]
contacts = ["张伟", "李娜"]
escalates_to = "科长"               # told when nobody acknowledged within …
escalate_after_minutes = 15         # … this many minutes

[units."灌南县"]                    # reserved for 属地管理、分级负责 (issue 8): a tree of units
parent = "连云港市"
```

A rule's ``contacts`` name roles or contacts; :meth:`Org.route` turns them (and the rule's own
``channels``) into the channels of the first notice and one list of channels per escalation step.
Every problem of the file is a ConfigError naming the file and the key; :meth:`Org.check` lists
what is wrong with one rule's contacts (unknown names, channels that channels.toml lacks).
docs/org.md describes every key.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from monitor.errors import ConfigError
from monitor.tomlfile import Table, one_line, read_toml

ORG_FILE = "org.toml"
TOP_KEYS = {"contacts", "roles", "units"}
CONTACT_KEYS = {"title", "phone", "email", "channels", "description"}
ROLE_KEYS = {"contacts", "channels", "escalates_to", "escalate_after_minutes", "description"}
#: Keys of a unit; issue 8 (jurisdictions, responsible units) adds its own here.
UNIT_KEYS = {"parent", "title", "description"}


@dataclass
class Route:
    """Where one alert goes: the first notice's channels, then more channels per step."""

    channels: list[str]              # channel instances for the first notice
    escalation: list[list[str]]      # channel instances added at each later step
    escalate_after: float | None     # seconds without an ack before the next step (None = no escalation)
    #: Seconds before each step, as each role sets it (``escalate_after`` is the first).
    step_after: list[float] = field(default_factory=list)
    #: Who is reached: the first notice's people, then each step's (role and contact names).
    people: list[list[str]] = field(default_factory=list)


@dataclass
class Contact:
    """One person, reached through channel instances."""

    name: str
    title: str = ""
    phone: str = ""
    email: str = ""
    channels: list[str] = field(default_factory=list)
    description: str = ""


@dataclass
class Role:
    """A duty (值班员, 科长, 宣传部 …): its contacts, and whom it escalates to and when."""

    name: str
    contacts: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)  # the role's own (a group robot)
    escalates_to: str | None = None
    escalate_after: float | None = None  # seconds
    description: str = ""


@dataclass
class Unit:
    """A unit of the jurisdiction tree (county → townships); routing by unit is issue 8's."""

    name: str
    parent: str | None = None
    title: str = ""
    description: str = ""


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _hint(name: str, known: Iterable[str]) -> str:
    # 0.5: a two-character name with one character wrong (张山 for 张三) is still suggested
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass
class Org:
    """Everything read from org.toml (empty when there is no file)."""

    path: Path | None = None
    contacts: dict[str, Contact] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    units: dict[str, Unit] = field(default_factory=dict)
    exists: bool = False

    def names(self) -> list[str]:
        """Every name a rule's ``contacts`` may use: roles, then contacts."""
        return [*self.roles, *self.contacts]

    def channels_of(self, name: str) -> list[str]:
        """The channels that reach a role (its own and its contacts') or a contact."""
        if name in self.contacts:
            return list(self.contacts[name].channels)
        role = self.roles.get(name)
        if role is None:
            return []
        return _unique([*role.channels,
                        *(c for who in role.contacts for c in self.channels_of(who))])

    def chain(self, role: str) -> list[tuple[str, float]]:
        """The roles after ``role`` in escalation order, each with the seconds before it."""
        steps: list[tuple[str, float]] = []
        current = self.roles.get(role)
        while current is not None and current.escalates_to:
            steps.append((current.escalates_to, float(current.escalate_after or 0)))
            current = self.roles.get(current.escalates_to)
        return steps

    def ancestors(self, unit: str) -> list[str]:
        """``unit`` and the units above it, nearest first (the seam for issue 8's routing)."""
        found = []
        while unit in self.units and unit not in found:
            found.append(unit)
            unit = self.units[unit].parent or ""
        return found

    def route(self, channels: list[str], contacts: list[str]) -> Route:
        """A rule's channels plus its contacts (role or contact names) resolved to channels,
        with one more list of channels per escalation step.

        Names the file does not define are left out (:meth:`check` reports them).  Chains of
        several roles are merged step by step; a step waits the shortest of their delays.
        """
        first = list(channels)
        people: list[str] = []
        chains: list[list[tuple[str, float]]] = []
        for name in contacts:
            if name not in self.contacts and name not in self.roles:
                continue
            first += self.channels_of(name)
            people.append(name)
            if name in self.roles:
                chains.append(self.chain(name))
        depth = max((len(c) for c in chains), default=0)
        escalation, step_after, step_people = [], [], []
        for i in range(depth):
            here = [c[i] for c in chains if len(c) > i]
            escalation.append(_unique(ch for role, _ in here for ch in self.channels_of(role)))
            step_after.append(min(after for _, after in here))
            step_people.append(_unique(role for role, _ in here))
        return Route(channels=_unique(first), escalation=escalation,
                     escalate_after=step_after[0] if step_after else None,
                     step_after=step_after, people=[_unique(people), *step_people])

    def check(self, contacts: list[str], known_channels: Iterable[str] | None) -> list[str]:
        """Problems with one rule's ``contacts``, one line each: unknown names, and channels
        (of the contacts, their roles and every escalation step) that are not in
        ``known_channels`` (None: channel names are not checked)."""
        known = None if known_channels is None else list(known_channels)
        problems: list[str] = []
        for name in contacts:
            if name not in self.contacts and name not in self.roles:
                where = "" if self.exists else f" ({self.path or ORG_FILE} does not exist)"
                problems.append(f"unknown contact {name!r}{_hint(name, self.names())}{where}")
                continue
            reached = [name, *(role for role, _ in self.chain(name))]
            for who in reached:
                problems += self._reach_problems(who, known)
        return _unique(problems)

    def _reach_problems(self, name: str, known: list[str] | None) -> list[str]:
        what = "role" if name in self.roles else "contact"
        if not self.channels_of(name):
            return [f"{what} {name!r} has no channels in {ORG_FILE}; nobody would be told"]
        if known is None:
            return []
        owners: list[tuple[str, list[str]]] = [(f"{what} {name!r}", self.channels_of(name))]
        if name in self.roles:
            owners = [(f"role {name!r}", self.roles[name].channels),
                      *((f"contact {who!r} (role {name!r})", self.contacts[who].channels)
                        for who in self.roles[name].contacts)]
        problems = []
        for owner, names in owners:
            for channel in names:
                if channel not in known:
                    hint = _hint(channel, known) or (
                        f"; channels defined: {', '.join(known) or 'none'}")
                    problems.append(f"{owner} is reached through channel {channel!r}, which "
                                    f"channels.toml does not define{hint}")
        return problems


def load_org(config_dir: Path) -> Org:
    """Read ``config_dir/org.toml``: no file is an empty Org; a bad one is a ConfigError
    naming the file and the key."""
    path = Path(config_dir) / ORG_FILE
    if not path.exists() and not path.is_symlink():
        return Org(path=path)
    t = Table(read_toml(path), path)
    org = Org(path=path, exists=True)
    for name, table in _tables(t, "contacts"):
        org.contacts[name] = _contact(name, table)
    for name, table in _tables(t, "roles"):
        if name in org.contacts:
            raise ConfigError(f"{name!r} is both a role and a contact; rules name either, so "
                              "the names must differ", path=path, key=table.prefix)
        org.roles[name] = _role(name, table, org, set(t.data.get("roles") or {}))
    for name, table in _tables(t, "units"):
        org.units[name] = _unit(name, table)
    t.reject_unknown(TOP_KEYS)
    _check_escalation(org, path)
    _check_units(org, path)
    return org


def _tables(t: Table, key: str) -> list[tuple[str, Table]]:
    """The sub-tables of ``[key]`` by name, each name checked."""
    outer = t.table(key)
    found = []
    for name, value in outer.data.items():
        if not name.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
            raise ConfigError("a name must be visible text on one line", path=t.path,
                              key=outer._key(repr(name)))
        if not isinstance(value, dict):
            raise ConfigError(f'expected a table: [{key}."{name}"] with its keys below it, '
                              f"got {value!r}", path=t.path, key=outer._key(name))
        found.append((name, Table(value, t.path, outer._key(name))))
    return found


def _names(t: Table, key: str) -> list[str]:
    value = t.get(key, (list, str), [])
    value = [value] if isinstance(value, str) else value
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"expected a list of non-empty names, got {item!r}", path=t.path,
                              key=t._key(key))
    return _unique(v.strip() for v in value)


def _contact(name: str, t: Table) -> Contact:
    email = one_line(t, "email")
    if email and "@" not in email:
        raise ConfigError(f"not an e-mail address: {email!r}", path=t.path, key=t._key("email"))
    contact = Contact(name=name, title=one_line(t, "title"), phone=one_line(t, "phone"), email=email,
                      channels=_names(t, "channels"), description=one_line(t, "description"))
    t.reject_unknown(CONTACT_KEYS)
    return contact


def _role(name: str, t: Table, org: Org, role_names: set[str]) -> Role:
    contacts = _names(t, "contacts")
    for who in contacts:
        if who not in org.contacts:
            fix = ("a role lists contacts, not other roles" if who in role_names
                   else f'define it as [contacts."{who}"]')
            raise ConfigError(f"unknown contact {who!r}{_hint(who, org.contacts)} ({fix})",
                              path=t.path, key=t._key("contacts"))
    channels = _names(t, "channels")
    if not contacts and not channels:
        raise ConfigError("a role needs contacts or channels (nobody would be told)",
                          path=t.path, key=t._key("contacts"))
    target = t.get("escalates_to", str, None)
    after = t.get("escalate_after_minutes", float, None)
    if target is not None and not target.strip():
        raise ConfigError("expected a role name", path=t.path, key=t._key("escalates_to"))
    if after is not None and (not math.isfinite(after) or after <= 0):
        raise ConfigError(f"expected minutes, more than 0, got {after}", path=t.path,
                          key=t._key("escalate_after_minutes"))
    if target and after is None:
        raise ConfigError("missing; say after how many minutes without an acknowledgement "
                          f"{target!r} is told", path=t.path,
                          key=t._key("escalate_after_minutes"))
    if after is not None and not target:
        raise ConfigError("has no effect without escalates_to", path=t.path,
                          key=t._key("escalate_after_minutes"))
    role = Role(name=name, contacts=contacts, channels=channels,
                escalates_to=target.strip() if target else None,
                escalate_after=after * 60 if after is not None else None,
                description=one_line(t, "description"))
    t.reject_unknown(ROLE_KEYS)
    return role


def _unit(name: str, t: Table) -> Unit:
    parent = t.get("parent", str, None)
    unit = Unit(name=name, parent=parent.strip() if parent and parent.strip() else None,
                title=one_line(t, "title"), description=one_line(t, "description"))
    t.reject_unknown(UNIT_KEYS)
    return unit


def _check_escalation(org: Org, path: Path) -> None:
    """Every ``escalates_to`` names a role, and no chain comes back to a role it passed."""
    for role in org.roles.values():
        if role.escalates_to and role.escalates_to not in org.roles:
            also = " (that is a contact; escalation goes to a role)" if (
                role.escalates_to in org.contacts) else ""
            raise ConfigError(f"unknown role {role.escalates_to!r}"
                              f"{_hint(role.escalates_to, org.roles)}{also}", path=path,
                              key=f"roles.{role.name}.escalates_to")
    for start in org.roles:
        seen = [start]
        current = org.roles[start]
        while current.escalates_to:
            if current.escalates_to in seen:
                loop = " → ".join([*seen[seen.index(current.escalates_to):],
                                   current.escalates_to])
                raise ConfigError(f"escalation goes round in a circle: {loop}", path=path,
                                  key=f"roles.{current.name}.escalates_to")
            seen.append(current.escalates_to)
            current = org.roles[current.escalates_to]


def _check_units(org: Org, path: Path) -> None:
    """Every ``parent`` names a unit, and the units form a tree (no unit is its own ancestor)."""
    for unit in org.units.values():
        if unit.parent and unit.parent not in org.units:
            raise ConfigError(f"unknown unit {unit.parent!r}{_hint(unit.parent, org.units)}",
                              path=path, key=f"units.{unit.name}.parent")
    for start in org.units:
        seen = [start]
        current = org.units[start]
        while current.parent:
            if current.parent in seen:
                loop = " → ".join([*seen[seen.index(current.parent):], current.parent])
                raise ConfigError(f"units go round in a circle: {loop}", path=path,
                                  key=f"units.{current.name}.parent")
            seen.append(current.parent)
            current = org.units[current.parent]
