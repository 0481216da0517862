"""The alert tables in the state database: alerts, their transitions, notices, deliveries,
silences and the per-rule-and-group memory (realert timer, flapping history).

They are defined on :data:`monitor.state.metadata` so that one ``create_all`` makes every table
of the system; :func:`ensure_tables` creates the ones here on an existing database (the outbox
calls it when it opens).  Times are stored timezone-aware (UTC) and read back through
:func:`utc`, because SQLite hands them back naive.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, Boolean, Column, DateTime, Float, Index, Integer, String, Table, Text,
                        UniqueConstraint)
from sqlalchemy.engine import Engine

from monitor.state import ensure_schema, metadata

#: Alert states.  ``flapping``: fired and cleared too often; held as one alert.
FIRING, ACKNOWLEDGED, RESOLVED, FLAPPING = "firing", "acknowledged", "resolved", "flapping"
OPEN_STATES = (FIRING, ACKNOWLEDGED, FLAPPING)

#: Delivery states.  ``sending``: an attempt started at ``sending_at`` (crash-safe marker).
PENDING, SENDING, SENT, DEAD = "pending", "sending", "sent", "dead"

alerts = Table(
    "alerts", metadata,
    Column("id", String(200), primary_key=True),
    Column("rule", String(128), nullable=False),
    Column("group_key", Text, nullable=False),        # canonical JSON of the group
    Column("state", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("condition", Boolean, nullable=False, default=True),  # the rule's condition holds
    Column("notified", Boolean, nullable=False, default=False),  # a firing notice went out
    Column("first_fired_at", DateTime(timezone=True), nullable=False),
    Column("last_fired_at", DateTime(timezone=True), nullable=False),
    Column("fire_count", Integer, nullable=False, default=1),
    Column("acked_by", String(128)),
    Column("acked_at", DateTime(timezone=True)),
    Column("ack_comment", Text),
    Column("resolved_by", String(128)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolve_comment", Text),
    Column("channels", JSON),                         # every channel told about it so far
    Column("escalation", JSON),                       # {"chain", "after", "step", "due_at"}
    Column("message", JSON),                          # the latest AlertMessage.to_dict()
    Column("realert_seconds", Float),                 # no new firing notice for the group within
    Column("aggregate_seconds", Float),               # firing notices go in a digest per period
    Column("aggregate_cron", String(100)),            # … or at the times of this crontab line
    Column("sources", JSON),                          # sources its documents / group came from
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_alerts_rule_group_state", "rule", "group_key", "state"),
)

alert_transitions = Table(
    "alert_transitions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(200), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("action", String(32), nullable=False),    # fired, ack, unack, resolve, escalate …
    Column("actor", String(128)),                    # a person, or "rule" / "clock"
    Column("comment", Text),
)

alert_groups = Table(
    "alert_groups", metadata,
    Column("rule", String(128), primary_key=True),
    Column("group_key", Text, primary_key=True),
    Column("last_notice_at", DateTime(timezone=True)),   # last firing notice (realert)
    Column("changes", JSON),                             # ISO times of recent state changes
)

alert_notices = Table(
    "alert_notices", metadata,
    Column("notice_id", String(300), primary_key=True),
    Column("alert_id", String(200), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("message", JSON, nullable=False),
)

alert_deliveries = Table(
    "alert_deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notice_id", String(300), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_at", DateTime(timezone=True), nullable=False),
    Column("sending_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Column("digest_id", String(64)),                 # sent inside this digest notice
    Column("last_error", Text),
    Column("last_code", String(32)),
    Column("held", String(32)),                      # why it waits: quiet, pacing, backoff …
    Column("batch", String(240)),                    # sent together with the same channel+batch
    UniqueConstraint("notice_id", "channel", name="uq_delivery_notice_channel"),
    Index("ix_deliveries_due", "state", "next_at"),
)

alert_silences = Table(
    "alert_silences", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(128), nullable=False),
    Column("group_key", Text),                       # None: every group of the rule
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(128)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

TABLES = [alerts, alert_transitions, alert_groups, alert_notices, alert_deliveries,
          alert_silences]


def ensure_tables(engine: Engine) -> None:
    """Create the alert tables and columns that are missing (idempotent; safe with several
    processes): a table made by an older version gets its new, nullable columns."""
    ensure_schema(engine, TABLES)


def utc(value: datetime | None) -> datetime | None:
    """A stored time, timezone-aware (SQLite returns naive UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def group_key(group: dict[str, Any] | None) -> str:
    """The canonical text of a group (sorted keys, no spaces): equal groups, equal keys."""
    return json.dumps({str(k): str(v) for k, v in (group or {}).items()}, sort_keys=True,
                      ensure_ascii=False, separators=(",", ":"))
