"""Rule files: one ``config/rules/<id>.toml`` per alert rule, checked when read.

Every problem is a ConfigError naming the file and the key (with "did you mean …?" for typos);
one bad file never stops the others: :func:`load_rules` returns the good rules and one problem
per bad file.  What each type does with its rule is in :mod:`alerts.ruletypes`; docs/rules.md
describes every key.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerts.message import SEVERITIES
from monitor.documents import CHANNELS, KINDS
from monitor.errors import ConfigError
from monitor.tomlfile import Table, read_toml

RULE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
RULES_DIR = "rules"

#: Fields a rule can group by; ``event`` is the seam for event detection (see EventProvider).
GROUP_FIELDS = ("source", "channel", "place", "department", "kind", "status", "author",
                "sentiment_label", "event")
EVENT_UNAVAILABLE = "group_by = event is not available until event detection exists"

COMMON_KEYS = {"id", "name", "type", "enabled", "severity", "query", "terms", "group_by",
               "channels", "contacts", "realert_minutes", "aggregation_minutes", "aggregation_cron",
               "filters",
               "top", "description"}
WINDOW_KEYS = {"window_minutes", "late_allowance_minutes"}
#: Keys each type adds to the common ones (values are defaults; None = required).
TYPE_KEYS: dict[str, dict[str, Any]] = {
    "match": {},
    "threshold": {"risk": None},
    "frequency": {"window_minutes": None, "late_allowance_minutes": 0, "min_count": None},
    "spike": {"window_minutes": None, "late_allowance_minutes": 0, "ratio": 3.0,
              "min_count": 1, "min_previous": 0, "direction": "up"},
    "flatline": {"window_minutes": None, "late_allowance_minutes": 0, "below": 1,
                 "history_minutes": 0, "expect": []},
    "cross_channel": {"window_minutes": None, "late_allowance_minutes": 0, "min_channels": 2},
    "unanswered": {"workdays": None, "timezone": "Asia/Shanghai"},
    "new_term": {"field": None, "history_days": 30, "window_minutes": 60,
                 "late_allowance_minutes": 0},
}
RULE_TYPES = tuple(TYPE_KEYS)
FILTER_KEYS = {"channels", "sources", "places", "departments", "kinds", "min_risk",
               "max_sentiment", "negative", "include_own"}
DIRECTIONS = ("up", "down", "both")
#: A document counts as negative below this sentiment score (``negative = true``).
NEGATIVE_BELOW = 0.35  # as `monitor search --negative`


@dataclass
class Filters:
    """Which documents a rule looks at; empty lists mean any value."""

    channels: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    min_risk: float | None = None
    max_sentiment: float | None = None  # ``negative = true`` sets NEGATIVE_BELOW
    include_own: bool = False  # the office's own channels are skipped unless asked for


@dataclass
class Rule:
    """One rule file.  ``params`` holds the type's own keys (with defaults filled in)."""

    id: str
    type: str
    name: str = ""
    enabled: bool = True
    severity: str = "warning"
    query: str = ""
    terms: list[str] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)
    realert_minutes: int = 60
    aggregation_minutes: int = 0
    aggregation_cron: str = ""  # digests at these times (office zone) instead of every N minutes
    top: int = 5
    description: str = ""
    filters: Filters = field(default_factory=Filters)
    params: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    #: Notes that do not stop the rule from loading (e.g. ``group_by = event`` without events).
    warnings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The rule's name, or its id when it has none."""
        return self.name or self.id

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``monitor rules list --json``)."""
        data = dataclasses.asdict(self)
        data["path"] = str(self.path) if self.path else None
        return data


def _suggest(value: str, known, what: str) -> str:
    close = difflib.get_close_matches(value, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {what} {value!r}, expected one of {', '.join(known)}{hint}"


def _strings(t: Table, key: str) -> list[str]:
    value = t.get(key, (list, str), [])
    if isinstance(value, str):
        value = [value]
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"expected a list of non-empty strings, got {item!r}",
                              path=t.path, key=t._key(key))
    return [v.strip() for v in value]


def _number(t: Table, key: str, default, *, minimum: float = 0.0, integer: bool = False,
            above: bool = False):
    value = t.get(key, int if integer else float, default)
    if value is None:
        return None
    if not math.isfinite(value) or value < minimum or (above and value <= minimum):
        sign = "more than" if above else "at least"
        raise ConfigError(f"expected a number {sign} {minimum:g}, got {value}", path=t.path,
                          key=t._key(key))
    return value


def _choices(t: Table, key: str, values: list[str], known, what: str) -> list[str]:
    for value in values:
        if value not in known:
            raise ConfigError(_suggest(value, known, what), path=t.path, key=t._key(key))
    return values


class Problems:
    """Collects every ConfigError of one file: ``take(check, default)`` runs one check and
    gives ``default`` when it fails, so the next key is still checked."""

    def __init__(self):
        self.errors: list[ConfigError] = []

    def take(self, check, default=None):
        try:
            return check()
        except ConfigError as exc:
            self.errors.append(exc)
            return default

    def unknown(self, t: Table, allowed: set[str]) -> None:
        """One problem per key of ``t`` that is not in ``allowed`` (with a suggestion)."""
        for key in t.data:
            if key not in allowed:
                self.take(lambda key=key: Table({key: None}, t.path, t.prefix)
                          .reject_unknown(allowed))


def parse_filters(t: Table, problems: Problems | None = None) -> Filters:
    """The ``[filters]`` table of a rule file."""
    p = problems or Problems()
    p.unknown(t, FILTER_KEYS)
    negative = p.take(lambda: t.get("negative", bool, False), False)
    max_sentiment = p.take(lambda: _sentiment(t))
    if negative:
        max_sentiment = min(max_sentiment if max_sentiment is not None else 1.0, NEGATIVE_BELOW)
    f = Filters(
        channels=p.take(lambda: _choices(t, "channels", _strings(t, "channels"), list(CHANNELS),
                                         "channel"), []),
        sources=p.take(lambda: _strings(t, "sources"), []),
        places=p.take(lambda: _strings(t, "places"), []),
        departments=p.take(lambda: _strings(t, "departments"), []),
        kinds=p.take(lambda: _choices(t, "kinds", _strings(t, "kinds"), list(KINDS), "kind"), []),
        min_risk=p.take(lambda: _number(t, "min_risk", None)), max_sentiment=max_sentiment,
        include_own=p.take(lambda: t.get("include_own", bool, False), False))
    if problems is None and p.errors:
        raise p.errors[0]
    return f


def _sentiment(t: Table) -> float | None:
    value = _number(t, "max_sentiment", None)
    if value is not None and value > 1:
        raise ConfigError(f"sentiment runs from 0 (negative) to 1, got {value}",
                          path=t.path, key=t._key("max_sentiment"))
    return value


def query_problem(text: str) -> str | None:
    """Why the store could not search ``text`` as meant, or None (the store's own check)."""
    from monitor.store._fts import query_problem as store_problem

    return store_problem(text) if text.strip() else None


def parse_rule(data: dict, path: Path) -> Rule:
    """Check one rule file's content and build its Rule (the first problem is raised)."""
    rule, problems = check_rule(data, path)
    if problems:
        raise problems[0]
    return rule


def check_rule(data: dict, path: Path) -> tuple[Rule | None, list[ConfigError]]:
    """Check one rule file's content: the Rule (None when anything is wrong) and **every**
    problem found, one per key."""
    p = Problems()
    if not isinstance(data, dict):
        return None, [ConfigError("expected a table", path=path)]
    t = Table(data, path)
    rule_type = p.take(lambda: _rule_type(t))
    specific = TYPE_KEYS.get(rule_type) if rule_type else None
    p.unknown(t, COMMON_KEYS | (set(specific) if specific is not None
                                else {k for keys in TYPE_KEYS.values() for k in keys}))
    rule_id = p.take(lambda: _rule_id(t, path), path.stem)
    severity = p.take(lambda: _severity(t), "warning")
    query = p.take(lambda: _query(t), "")
    terms = p.take(lambda: _strings(t, "terms"), [])
    group_by = p.take(lambda: _choices(t, "group_by", _strings(t, "group_by"), GROUP_FIELDS,
                                       "group_by field"), [])
    rule = Rule(
        id=rule_id, type=rule_type or "", name=p.take(lambda: t.get("name", str, ""), ""),
        enabled=p.take(lambda: t.get("enabled", bool, True), True), severity=severity,
        query=query, terms=terms, group_by=group_by,
        channels=p.take(lambda: _strings(t, "channels"), []),
        contacts=p.take(lambda: _strings(t, "contacts"), []),
        realert_minutes=p.take(lambda: _number(t, "realert_minutes", 60, integer=True), 60),
        aggregation_minutes=p.take(lambda: _number(t, "aggregation_minutes", 0, integer=True),
                                   0),
        aggregation_cron=p.take(lambda: _cron(t), ""),
        top=p.take(lambda: _number(t, "top", 5, integer=True), 5),
        description=p.take(lambda: t.get("description", str, ""), ""),
        filters=p.take(lambda: parse_filters(t.table("filters"), p), Filters()), path=path)
    if specific is not None:
        rule.params = _parse_params(t, rule_type, specific, p)
        if rule_type == "cross_channel" and not (query or terms):
            p.errors.append(ConfigError("a cross_channel rule needs a query or terms to look "
                                        "for on every channel", path=path, key="query"))
        if rule_type == "match" and not (query or terms or _has_filter(rule.filters)):
            p.errors.append(ConfigError("a match rule needs a query, terms or a filter (it "
                                        "would match every document)", path=path, key="query"))
    if "event" in group_by:
        rule.warnings.append(EVENT_UNAVAILABLE)
    return (None if p.errors else rule), p.errors


def _rule_type(t: Table) -> str:
    rule_type = t.get("type", str, required=True)
    if rule_type not in TYPE_KEYS:
        raise ConfigError(_suggest(rule_type, RULE_TYPES, "rule type"), path=t.path, key="type")
    return rule_type


def _rule_id(t: Table, path: Path) -> str:
    rule_id = t.get("id", str, path.stem)
    if not RULE_ID_RE.match(rule_id):
        raise ConfigError("rule ids use lower-case letters, digits, '-' and '_' "
                          f"(got {rule_id!r}); rename the file", path=path, key="id")
    return rule_id


def _severity(t: Table) -> str:
    severity = t.get("severity", str, "warning")
    if severity not in SEVERITIES:
        raise ConfigError(_suggest(severity, list(SEVERITIES), "severity"), path=t.path,
                          key="severity")
    return severity


def _query(t: Table) -> str:
    query = t.get("query", str, "").strip()
    problem = query_problem(query)
    if problem:
        raise ConfigError(problem, path=t.path, key="query")
    return query


def _has_filter(f: Filters) -> bool:
    return bool(f.channels or f.sources or f.places or f.departments or f.kinds
                or f.min_risk is not None or f.max_sentiment is not None)


def _parse_params(t: Table, rule_type: str, specific: dict[str, Any], p: Problems
                  ) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, default in specific.items():
        if default is None and key not in t.data:
            p.errors.append(ConfigError(f"missing; a {rule_type} rule needs it", path=t.path,
                                        key=key))
            continue
        params[key] = p.take(lambda key=key, default=default: _param(t, key, default))
    if rule_type == "flatline" and params.get("below") == 0:
        p.errors.append(ConfigError("below = 0 can never fire (no count is below 0); use 1 "
                                    "for 'nothing at all'", path=t.path, key="below"))
    return params


def _param(t: Table, key: str, default):
    if key in ("window_minutes", "min_count", "workdays", "min_channels"):
        return _number(t, key, default, minimum=1, integer=True)
    if key in ("late_allowance_minutes", "min_previous", "below", "history_minutes",
               "history_days"):
        return _number(t, key, default, integer=True)
    if key == "ratio":
        return _number(t, key, default, minimum=1.0, above=True)
    if key == "risk":
        return _number(t, key, default)
    if key == "direction":
        return _choices(t, key, [t.get(key, str, default)], DIRECTIONS, "direction")[0]
    if key == "field":
        return _choices(t, key, [t.get(key, str, default)], GROUP_FIELDS[:-1], "field")[0]
    if key == "expect":
        return _strings(t, key)
    if key == "timezone":
        return _zone(t, key, default)
    raise AssertionError(f"no check for {key}")  # pragma: no cover - TYPE_KEYS and this agree


def _zone(t: Table, key: str, default: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = t.get(key, str, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {value!r}, e.g. 'Asia/Shanghai'", path=t.path,
                          key=t._key(key)) from None
    return value


def check_channels(rules: list[Rule], config_dir: Path) -> list[ConfigError]:
    """Problems for rules naming a channel that ``channels.toml`` does not define (nothing is
    checked when that file does not exist)."""
    try:
        from alerts.channels_config import CHANNELS_FILE, load_channels
    except ImportError:  # pragma: no cover - the channels module ships with alerts
        return []
    if not (Path(config_dir) / CHANNELS_FILE).exists():
        return []
    known = load_channels(config_dir).names()
    problems = []
    for rule in rules:
        for name in rule.channels:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else (
                    f"; channels defined in {CHANNELS_FILE}: {', '.join(known) or 'none'}")
                problems.append(ConfigError(f"unknown channel {name!r}{hint}", path=rule.path,
                                            key="channels"))
    return problems


def _cron(t: Table) -> str:
    from monitor.sourcefile import cron_error

    expr = t.get("aggregation_cron", str, "").strip()
    if expr and t.data.get("aggregation_minutes"):
        raise ConfigError("give either aggregation_cron or aggregation_minutes, not both",
                          path=t.path, key=t._key("aggregation_cron"))
    problem = cron_error(expr) if expr else None
    if problem:
        raise ConfigError(problem, path=t.path, key=t._key("aggregation_cron"))
    return expr


def load_rules(config_dir: Path, *, check_channel_names: bool = True
               ) -> tuple[dict[str, Rule], list[ConfigError]]:
    """Read every ``rules/*.toml``; return the good rules by id and every problem found
    (all of each file's, not only the first).

    A rule naming an unknown alert channel still loads (its other channels work) and the
    channel is listed as a problem.
    """
    rules: dict[str, Rule] = {}
    problems: list[ConfigError] = []
    for path in sorted((Path(config_dir) / RULES_DIR).glob("*.toml")):
        if path.name.startswith("."):  # editors' lock and backup files
            continue
        try:
            rule, found = check_rule(read_toml(path), path)
        except ConfigError as exc:
            problems.append(exc)
            continue
        problems.extend(found)
        if rule is None:
            continue
        if rule.id in rules:
            problems.append(ConfigError(f"rule id {rule.id!r} is also used by "
                                        f"{rules[rule.id].path}", path=path, key="id"))
            continue
        rules[rule.id] = rule
    if check_channel_names:
        problems.extend(check_channels(list(rules.values()), Path(config_dir)))
    return rules, problems
