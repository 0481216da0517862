"""Rule types and their evaluation: one class per type, each returning :class:`Firing` lists.

Evaluation takes an injected, timezone-aware ``now`` and reads the store only through its
protocol (``search``, ``count``, ``count_by_field``), so it works on every backend.  Nothing is
sent here: a firing becomes an alert (``alerts.message.AlertMessage``) in the outbox later.

    rule_type = make(rule)
    rule_type.evaluate(store, now, active=keys_firing_now)      # window rules
    rule_type.matches(document)                                 # match / threshold, per document
    rule_type.observe(document, state)                          # new_term, per document
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.rules import Rule
from alerts.ruletypes._common import (EventProvider, Firing, Group, RuleUnavailable, aware,
                                      doc_matches, group_key, window_at)
from alerts.ruletypes.perdoc import Match, NewTerm, Threshold, Unanswered
from alerts.ruletypes.window import CrossChannel, Flatline, Frequency, RuleType, Spike

TYPES: dict[str, type[RuleType]] = {
    "match": Match, "threshold": Threshold, "frequency": Frequency, "spike": Spike,
    "flatline": Flatline, "cross_channel": CrossChannel, "unanswered": Unanswered,
    "new_term": NewTerm,
}

__all__ = ["TYPES", "EventProvider", "Firing", "Group", "RuleType", "RuleUnavailable",
           "ReplayEvent", "doc_matches", "group_key", "make", "replay", "window_at"]


def make(rule: Rule) -> RuleType:
    """The evaluator of one rule."""
    return TYPES[rule.type](rule)


@dataclass
class ReplayEvent:
    """What a replay saw at one step: a firing or a resolution, at time ``at``."""

    at: datetime
    firing: Firing


def replay(rule: Rule, store, since: datetime, until: datetime, *, step_minutes: int = 0,
           calendar=None, events: EventProvider | None = None) -> list[ReplayEvent]:
    """Evaluate ``rule`` at steps over ``[since, until]`` and list what would have fired and
    resolved, sending nothing (``monitor rules test``).

    A group reports once when it starts firing and once when it resolves, as the service's
    state would.  Per-document types report each matching document once; ``new_term`` learns
    its history before ``since`` first.  The step defaults to the window (5 minutes for
    per-document types and unanswered).
    """
    aware(since), aware(until)
    evaluator = make(rule)
    step = timedelta(minutes=step_minutes or rule.params.get("window_minutes") or 5)
    if rule.type in ("match", "threshold", "new_term"):
        step = timedelta(minutes=step_minutes or 5)
    if "event" in rule.group_by and events is None:
        raise RuleUnavailable(f"rule {rule.id}: {rule.warnings[0]}")
    active: set[Group] = set()
    state: dict = {}
    seen: set[str] = set()
    out: list[ReplayEvent] = []
    if rule.type == "new_term":
        # learn up to ``since`` exactly: the first window then holds only what is new
        evaluator.learn(store, state, since + timedelta(
            minutes=rule.params["window_minutes"] + rule.params["late_allowance_minutes"]))
    at = since
    while at <= until:
        if rule.type in ("match", "threshold"):
            for f in evaluator.evaluate(store, at, since=at - step, events=events):
                if f.documents[0] not in seen:
                    seen.add(f.documents[0])
                    out.append(ReplayEvent(at, f))
        else:
            for f in evaluator.evaluate(store, at, active=set(active), events=events,
                                        calendar=calendar, state=state):
                if f.resolved:
                    active.discard(f.key)
                    out.append(ReplayEvent(at, f))
                elif f.key not in active:
                    active.add(f.key)
                    out.append(ReplayEvent(at, f))
        at += step
    return out
