"""The service's rule engine: per-document rules as documents are stored, window rules on a
schedule, and the state both keep in the state database.

* **Per-document rules** (``match``, ``threshold``, ``new_term``) see every batch the service
  stores (:meth:`RuleEngine.on_stored`).  A document fires a rule once: the hit is recorded in
  ``rule_hits`` in the same transaction as the alert it raises and the rule's learned state, so
  a batch stored again after a crash (unchanged documents) raises nothing twice.  One alert per
  rule and group holds the burst: later matches update its count and its top documents (by
  risk), and the episode ends — resolved, with a notice to whoever was told — when the group
  has had no match for ``max(realert_minutes, 10)`` minutes (:meth:`close_quiet`).  A rule
  added later does not fire on documents first stored before the service first ran it, and
  ``new_term`` learns the values of documents older than its learned history without firing.
* **Window rules** are evaluated by :meth:`evaluate` at the times the service schedules; the
  groups firing (their ``active`` set) are the open alerts of the rule, so nothing about a
  window lives only in memory.  After a restart :meth:`catch_up` evaluates the steps missed
  while the service was down, on event time, so a burst that spans the restart still fires.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from sqlalchemy import (JSON, Column, DateTime, String, Table, and_, delete, insert, select,
                        update)

from alerts.message import AlertDoc, AlertMessage
from alerts.rules import Rule
from alerts.ruletypes import Firing, RuleUnavailable, make
from alerts.ruletypes._common import doc_matches, event_time, field_values
from alerts.ruletypes.handover import to_alert
from alerts.tables import OPEN_STATES, alerts, group_key, utc
from monitor.documents import Document
from monitor.state import ensure_schema, metadata
from monitor.store import INSERTED, UPDATED

log = logging.getLogger(__name__)

PER_DOCUMENT = ("match", "threshold", "new_term")
MIN_QUIET_MINUTES = 10
#: Longest outage :meth:`RuleEngine.catch_up` replays, and the most steps it takes for it.
CATCH_UP_HOURS = 24
CATCH_UP_STEPS = 288
HIT_MEMORY_DAYS = 30  # per-document hits older than this are forgotten at start-up

rule_state = Table(
    "rule_state", metadata,
    Column("rule", String(128), primary_key=True),
    Column("definition", String(64)),                 # hash of the rule as loaded
    Column("state", JSON),                            # new_term's learned values
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("evaluated_at", DateTime(timezone=True)),  # last window evaluation (event time)
)

rule_hits = Table(
    "rule_hits", metadata,
    Column("rule", String(128), primary_key=True),
    Column("document_id", String(200), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)


def definition_hash(rule: Rule) -> str:
    """A short hash of what a rule is (its file's values): a changed rule re-learns."""
    data = rule.to_dict()
    data.pop("path", None)
    data.pop("warnings", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


class RuleEngine:
    """Evaluates the enabled rules and hands what fires to :class:`alerts.lifecycle.Alerts`.

    ``route(rule)`` gives the rule's channels and escalation (``monitor.org``); ``calendar`` is
    the working-day calendar of ``unanswered`` rules; ``events`` plugs in event detection.
    """

    def __init__(self, rules: dict[str, Rule], alerts_: Any, *,
                 route: Callable[[Rule], Any] | None = None, calendar=None, events=None):
        self.rules = {rid: r for rid, r in rules.items() if r.enabled}
        self.alerts = alerts_
        self.engine = alerts_.engine
        self.route = route
        self.calendar = calendar
        self.events = events
        self.evaluators = {rid: make(r) for rid, r in self.rules.items()}
        self.first_seen: dict[str, datetime] = {}
        self.states: dict[str, dict] = {}
        self.unavailable: dict[str, str] = {}
        ensure_schema(self.engine, [rule_state, rule_hits])

    @property
    def per_document(self) -> list[Rule]:
        """The enabled per-document rules."""
        return [r for r in self.rules.values() if r.type in PER_DOCUMENT
                and r.id not in self.unavailable]

    @property
    def windowed(self) -> list[Rule]:
        """The enabled rules evaluated on a schedule."""
        return [r for r in self.rules.values() if r.type not in PER_DOCUMENT
                and r.id not in self.unavailable]

    # -- start-up -------------------------------------------------------------------------------

    def start(self, store, now: datetime) -> None:
        """Read each rule's state (a rule seen for the first time is recorded now; a changed
        new_term rule re-learns), learn the history of new_term rules that have none, and
        forget per-document hits older than HIT_MEMORY_DAYS."""
        self.forget_hits(now - timedelta(days=HIT_MEMORY_DAYS))
        with self.engine.begin() as c:
            rows = {r.rule: r for r in c.execute(select(rule_state)).all()}
            for rule in self.rules.values():
                if "event" in rule.group_by and self.events is None:
                    self.unavailable[rule.id] = rule.warnings[0] if rule.warnings else \
                        "group_by = event needs event detection"
                    log.warning("rule %s is not evaluated: %s", rule.id,
                                self.unavailable[rule.id])
                    continue
                digest, row = definition_hash(rule), rows.get(rule.id)
                if row is None:
                    c.execute(insert(rule_state).values(rule=rule.id, definition=digest,
                                                        state={}, first_seen_at=now))
                    self.first_seen[rule.id], state = now, {}
                else:
                    self.first_seen[rule.id] = utc(row.first_seen_at)
                    state = dict(row.state or {}) if row.definition == digest else {}
                    if row.definition != digest:
                        c.execute(update(rule_state).where(rule_state.c.rule == rule.id)
                                  .values(definition=digest, state={}))
                self.states[rule.id] = state
        for rule in self.per_document:
            if rule.type == "new_term" and not self.states[rule.id].get("learned_until"):
                self.evaluators[rule.id].learn(store, self.states[rule.id], now)
                self._save_state(rule.id)
                log.info("rule %s learned %d values of %s", rule.id,
                         len(self.states[rule.id].get("values", {})), rule.params["field"])

    def _save_state(self, rule_id: str, conn=None) -> None:
        stmt = update(rule_state).where(rule_state.c.rule == rule_id).values(
            state=self.states[rule_id])
        if conn is not None:
            conn.execute(stmt)
            return
        with self.engine.begin() as c:
            c.execute(stmt)

    # -- per document ---------------------------------------------------------------------------

    def on_stored(self, pairs: Iterable[tuple[Document, str]], store, now: datetime) -> int:
        """Run the per-document rules over one stored batch; returns the firings handed on.

        Matching needs no database; only a batch with a match (or a new_term rule that learned
        something) opens one transaction, for every rule together."""
        pairs = list(pairs)
        found: list[tuple[Rule, Document, Firing]] = []
        learned: dict[str, dict] = {}  # new_term rules whose state moved: the state before
        for rule in self.per_document:
            since = self.first_seen.get(rule.id)
            evaluator = self.evaluators[rule.id]
            for doc, status in pairs:
                if status not in (INSERTED, UPDATED) and not (
                        since is not None and doc.crawled_at and doc.crawled_at >= since):
                    continue
                if rule.type == "new_term":
                    state = self.states[rule.id]
                    before = {**state, "values": dict(state.get("values", {}))}
                    firing = self._observe(evaluator, rule, doc)
                    if state.get("values") != before["values"]:
                        learned.setdefault(rule.id, before)
                elif evaluator.matches(doc):
                    firing = evaluator.firing(doc, events=self.events)
                else:
                    firing = None
                if firing is not None:
                    found.append((rule, doc, firing))
        if not found and not learned:
            return 0
        try:
            with self.engine.begin() as c:
                fired = self._hand_on(found, store, now, c)
                for rule_id in learned:
                    self._save_state(rule_id, c)
                return fired
        except Exception:
            self.states.update(learned)  # the transaction rolled back: so do the states
            raise

    def _hand_on(self, found: list, store, now: datetime, c) -> int:
        """Fire what matched, except documents that already fired their rule (a replay)."""
        hits: dict[str, set[str]] = {}
        for rule_id in {rule.id for rule, _, _ in found}:
            ids = [doc.id for rule, doc, _ in found if rule.id == rule_id]
            hits[rule_id] = {r.document_id for r in c.execute(
                select(rule_hits.c.document_id).where(rule_hits.c.rule == rule_id,
                                                     rule_hits.c.document_id.in_(ids))).all()}
        fresh: dict[tuple, list[tuple[Document, Firing]]] = {}
        for rule, doc, firing in found:
            if doc.id in hits[rule.id]:
                continue
            hits[rule.id].add(doc.id)
            c.execute(insert(rule_hits).values(rule=rule.id, document_id=doc.id, at=now))
            fresh.setdefault((rule.id, group_key(firing.group)), []).append((doc, firing))
        for matches in fresh.values():  # the matches of one rule and group: one firing
            self._fire(_joined(matches), store, now, c, merge=True)
        return sum(len(m) for m in fresh.values())

    def _observe(self, evaluator, rule: Rule, doc: Document):
        """new_term on one document.  A document older than the learned history's end is
        history, not news: its values are learned without firing (so the first crawl of a
        new source, or a back-fill, never floods)."""
        state = self.states[rule.id]
        learned = state.get("learned_until")
        if learned and event_time(doc) < datetime.fromisoformat(learned):
            if doc_matches(rule, doc):
                values = state.setdefault("values", {})
                for value in field_values(doc, rule.params["field"]):
                    values.setdefault(value, event_time(doc).isoformat())
            return None
        return evaluator.observe(doc, state)

    def close_quiet(self, now: datetime) -> int:
        """End the per-document episodes that have had no match for their quiet period."""
        closed = 0
        for rule in self.per_document:
            quiet = timedelta(minutes=max(rule.realert_minutes, MIN_QUIET_MINUTES))
            with self.engine.begin() as c:
                rows = c.execute(select(alerts.c.id, alerts.c.message).where(and_(
                    alerts.c.rule == rule.id, alerts.c.state.in_(OPEN_STATES),
                    alerts.c.condition.is_(True), alerts.c.last_fired_at <= now - quiet))).all()
                for row in rows:
                    group = AlertMessage.from_dict(row.message).group
                    self.alerts.clear(rule.id, group, now=now, conn=c)
                    closed += 1
        return closed

    # -- windows --------------------------------------------------------------------------------

    def active(self, rule_id: str) -> set:
        """The groups of a rule whose condition holds now (its open alerts)."""
        with self.engine.connect() as c:
            rows = c.execute(select(alerts.c.message).where(and_(
                alerts.c.rule == rule_id, alerts.c.state.in_(OPEN_STATES),
                alerts.c.condition.is_(True)))).all()
        return {tuple(sorted(AlertMessage.from_dict(r.message).group.items())) for r in rows}

    def evaluated_at(self, rule_id: str) -> datetime | None:
        """When a window rule was last evaluated (None: never)."""
        with self.engine.connect() as c:
            value = c.execute(select(rule_state.c.evaluated_at).where(
                rule_state.c.rule == rule_id)).scalar()
        return utc(value)

    def evaluate(self, rule: Rule, store, now: datetime) -> list[Firing]:
        """One evaluation of a window rule at ``now``; what fired and resolved is handed to
        the alerts in one transaction with the rule's ``evaluated_at``."""
        try:
            firings = self.evaluators[rule.id].evaluate(
                store, now, active=self.active(rule.id), events=self.events,
                calendar=self.calendar, state=self.states.setdefault(rule.id, {}))
        except RuleUnavailable as exc:
            self.unavailable[rule.id] = str(exc)
            log.warning("rule %s is not evaluated: %s", rule.id, exc)
            return []
        with self.engine.begin() as c:
            for firing in firings:
                if firing.resolved:
                    self.alerts.clear(rule.id, firing.group, now=now, conn=c)
                else:
                    self._fire(firing, store, now, c)
            c.execute(update(rule_state).where(rule_state.c.rule == rule.id).values(
                evaluated_at=now))
        return firings

    def catch_up(self, rule: Rule, store, now: datetime, step: float) -> int:
        """Evaluate the steps a window rule missed since it was last evaluated (at most
        CATCH_UP_HOURS back, CATCH_UP_STEPS steps); returns how many were run."""
        last = self.evaluated_at(rule.id)
        if last is None or now - last <= timedelta(seconds=step * 1.5):
            return 0
        start = max(last, now - timedelta(hours=CATCH_UP_HOURS))
        gap = (now - start).total_seconds()
        step = max(step, gap / CATCH_UP_STEPS)
        at, steps = start + timedelta(seconds=step), 0
        while at < now:
            self.evaluate(rule, store, at)
            at += timedelta(seconds=step)
            steps += 1
        if steps:
            log.info("rule %s: caught up %d evaluations missed since %s", rule.id, steps,
                     last.isoformat(timespec="seconds"))
        return steps

    # -- firing ---------------------------------------------------------------------------------

    def _fire(self, firing: Firing, store, now: datetime, conn, merge: bool = False) -> None:
        rule = firing.rule
        alert = to_alert(firing, store)
        if self.route is not None:
            route = self.route(rule)
            alert = dataclasses.replace(alert, channels=list(route.channels),
                                        escalation=[list(s) for s in route.escalation],
                                        escalate_after=route.escalate_after,
                                        escalate_steps=list(getattr(route, "step_after", [])))
        if merge:
            alert = self._merged(alert, rule, conn)
        self.alerts.fire(alert, now=now, conn=conn)

    def _merged(self, alert, rule: Rule, conn):
        """A per-document firing joined to its group's open alert: the count grows and the top
        documents are the riskiest of all its matches."""
        row = conn.execute(select(alerts.c.message).where(and_(
            alerts.c.rule == rule.id, alerts.c.group_key == group_key(alert.group),
            alerts.c.state.in_(OPEN_STATES)))).first()
        if row is None:
            return alert
        old = AlertMessage.from_dict(row.message)
        docs: dict[str, AlertDoc] = {d.url or d.title: d for d in old.documents}
        for d in alert.documents:
            docs.setdefault(d.url or d.title, d)
        top = sorted(docs.values(), key=lambda d: -(d.risk or 0.0))[:rule.top]
        window = (min(old.window[0], alert.window[0]), max(old.window[1], alert.window[1])) \
            if old.window and alert.window else alert.window
        count = (old.count or 1) + (alert.count or 1)
        latest = alert.documents[0].title if alert.documents else ""
        return dataclasses.replace(alert, documents=top, count=count, window=window,
                                   reason=f"{count} 条信息命中规则「{rule.title}」"
                                          + (f"（最新：{latest[:30]}）" if latest else ""))

    def forget_hits(self, before: datetime) -> int:
        """Drop per-document hits recorded before ``before`` (they cannot fire again anyway:
        their documents are long past every rule's first-seen time)."""
        with self.engine.begin() as c:
            return c.execute(delete(rule_hits).where(rule_hits.c.at < before)).rowcount


def _joined(matches: list[tuple[Document, Firing]]) -> Firing:
    """The matches of one rule and group in one batch as one firing: their count, their
    window, the riskiest of them as its documents, the latest as its reason."""
    if len(matches) == 1:
        return matches[0][1]
    rule = matches[0][1].rule
    ranked = sorted(matches, key=lambda m: -(m[0].risk or 0.0))
    doc, latest = max(matches, key=lambda m: m[1].window[1])
    window = (min(f.window[0] for _, f in matches), max(f.window[1] for _, f in matches))
    title = " ".join((doc.title or doc.text or "").split())[:30]
    return dataclasses.replace(
        latest, count=len(matches), window=window,
        first=min(f.window[1] for _, f in matches),
        documents=[d.id for d, _ in ranked[:rule.top]],
        reason=f"{len(matches)} 条信息命中规则「{rule.title}」（最新：{title}）")
