"""Shared helpers of the rule tests: a rule from TOML text, documents at known times."""
from __future__ import annotations

import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

from alerts.rules import Rule, parse_rule
from monitor.testing import make_document

UTC = timezone.utc
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def rule(text: str, name: str = "r") -> Rule:
    """A rule parsed from TOML text as if read from ``<name>.toml``."""
    return parse_rule(tomllib.loads(text), Path(f"{name}.toml"))


def at(minutes_before: float, text: str = "学校围墙倒塌", **fields):
    """A document published ``minutes_before`` NOW (unique by text, time and fields)."""
    when = NOW - timedelta(minutes=minutes_before)
    fields.setdefault("crawled_at", NOW)
    return make_document(text, title=f"{text} {when.isoformat()} {sorted(fields.items())}",
                         published_at=when, **fields)
