"""Per-document rule types (match, threshold, new_term) and the working-day rule (unanswered)."""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from alerts.ruletypes._common import (STORE_FILTERS, Firing, aware, base_query, doc_groups,
                                      doc_matches, event_time, field_values, group_label,
                                      needs_scan, resolved, scan, top_documents, window_at)
from alerts.ruletypes.window import RuleType
from monitor.documents import Document
from monitor.store import COUNT_FIELDS

#: Window a per-document rule looks back over when evaluated on a schedule (or replayed).
DEFAULT_LOOKBACK_MINUTES = 60


def _clip(text: str, n: int = 30) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[:n] + "…"


class Match(RuleType):
    """A document matching the rule's query, terms and filters."""

    per_document = True

    def matches(self, document: Document) -> bool:
        """Whether one document fires the rule (no store query: the ingest path calls it)."""
        return doc_matches(self.rule, document)

    def reason(self, document: Document) -> str:
        """Why one document fired, in one Chinese line."""
        return f"命中规则「{self.rule.title}」：{_clip(document.title or document.text)}"

    def firing(self, document: Document, window: tuple[datetime, datetime] | None = None,
               events=None) -> Firing:
        """The firing one matching document gives (its group from ``group_by``)."""
        groups = doc_groups(self.rule, document, None, events) if self.rule.group_by else [()]
        at = event_time(document)
        return Firing(self.rule, dict(groups[0]) if groups else {}, 1,
                      window or (at, at + timedelta(microseconds=1)), [document.id],
                      self.reason(document))

    def _store_rule(self):
        return self.rule

    def evaluate(self, store, now, *, active=(), events=None, since=None, **_):
        """Every matching document published in ``[since, now)`` (default: the last hour)."""
        since = since or now - timedelta(minutes=DEFAULT_LOOKBACK_MINUTES)
        query = base_query(self._store_rule(), since, now)
        return [self.firing(d, (since, now), events) for d in scan(store, query, self.rule)
                if self.matches(d)]


class Threshold(Match):
    """A matching document whose risk score is at or above ``risk``."""

    def matches(self, document: Document) -> bool:
        risk = document.risk
        return risk is not None and risk >= self.rule.params["risk"] and super().matches(document)

    def reason(self, document: Document) -> str:
        return (f"风险分 {document.risk:.2f} ≥ {self.rule.params['risk']:g}："
                f"{_clip(document.title or document.text)}")

    def _store_rule(self):
        # the store is asked for risk ≥ risk only; the rule itself is left as it is
        floor, f = self.rule.params["risk"], self.rule.filters
        return dataclasses.replace(self.rule, filters=dataclasses.replace(
            f, min_risk=floor if f.min_risk is None else max(floor, f.min_risk)))


class NewTerm(RuleType):
    """The first appearance of a value of ``field`` against a learned history.

    State is a plain dict the caller persists: ``{"values": {value: first_seen_iso},
    "learned_until": iso}``.  :meth:`learn` fills it from the ``history_days`` before the first
    evaluation, so a restart with the state kept never floods.
    """

    per_document = True

    def _values(self, document: Document) -> list[str]:
        return field_values(document, self.rule.params["field"])

    def learn(self, store, state: dict, now: datetime) -> dict:
        """Learn the values seen in the history window before ``now`` (once per state)."""
        if state.get("learned_until"):
            return state
        start, end = window_at(self.rule, now)
        since = start - timedelta(days=self.rule.params["history_days"])
        values = state.setdefault("values", {})
        for value in self._field_counts(store, since, start):
            values.setdefault(value, since.isoformat())
        state["learned_until"] = start.isoformat()
        return state

    def _field_counts(self, store, since, until) -> list[str]:
        name, rule = self.rule.params["field"], self.rule
        query = base_query(rule, since, until)
        if name in COUNT_FIELDS and not needs_scan(rule, [name]):
            return list(store.count_by_field(query, name))
        seen: dict[str, None] = {}
        for doc in scan(store, query, rule):
            if doc_matches(rule, doc):
                seen.update(dict.fromkeys(self._values(doc)))
        return list(seen)

    def observe(self, document: Document, state: dict) -> Firing | None:
        """Per document: a firing when it brings a value not seen before (and records it)."""
        if not doc_matches(self.rule, document):
            return None
        values = state.setdefault("values", {})
        new = [v for v in self._values(document) if v not in values]
        if not new:
            return None
        at = event_time(document)
        for v in new:
            values[v] = at.isoformat()
        return Firing(self.rule, {self.rule.params["field"]: new[0]}, 1,
                      (at, at + timedelta(microseconds=1)), [document.id],
                      self._reason(new[0]))

    def _reason(self, value: str) -> str:
        return f"首次出现新的{self.rule.params['field']}「{value}」"

    def evaluate(self, store, now, *, state: dict | None = None, **_):
        """New values in this window; ``state`` (learned first when empty) is updated."""
        state = {} if state is None else state
        self.learn(store, state, now)
        start, end = window_at(self.rule, now)
        values = state["values"]
        out = []
        for value in self._field_counts(store, start, end):
            if value in values:
                continue
            values[value] = start.isoformat()
            group = ((self.rule.params["field"], value),)
            out.append(Firing(self.rule, dict(group), 1, (start, end),
                              top_documents(store, self.rule, start, end, group, sort="oldest"),
                              self._reason(value)))
        state["learned_until"] = max(state["learned_until"], end.isoformat())
        return out


class Unanswered(RuleType):
    """Messages still without an official reply ``workdays`` working days after they came.

    A message's deadline depends only on its local date, and a later date never has an earlier
    deadline; so the late messages are exactly those that came before one instant, the
    midnight after the last date whose deadline has passed.  The store counts them up to that
    instant (and lists each group's oldest) when the group fields are ones it filters by;
    otherwise the messages are read and checked one by one.  Both give the same firings.
    """

    #: Most days stepped back from ``now - workdays`` looking for the last date that is late.
    CUTOFF_STEPS = 400

    def evaluate(self, store, now, *, active=(), events=None, calendar=None, **_):
        from monitor.workdays import WorkCalendar

        rule, n = self.rule, self.rule.params["workdays"]
        calendar = calendar or WorkCalendar(timezone=rule.params["timezone"])
        # n working days are at least n calendar days: younger messages cannot be late yet
        query = base_query(rule, None, aware(now) - timedelta(days=n), replied=False)
        query.kinds = ["message"]
        f = rule.filters
        if (not needs_scan(rule) and all(g in STORE_FILTERS for g in rule.group_by)
                and (not f.kinds or "message" in f.kinds)):
            cutoff = self._cutoff(now, calendar)
            if cutoff is not None:
                query.until = min(query.until, cutoff)
                return self._counted(store, now, query, calendar, active)
        return self._scanned(store, now, query, calendar, active, events)

    def _cutoff(self, now: datetime, calendar) -> datetime | None:
        """The midnight (office time) after the last local date whose messages are late at
        ``now``: a few ``add_workdays``, stepping back from the date ``workdays`` days ago."""
        n, tz = self.rule.params["workdays"], self.rule.params["timezone"]
        zone = ZoneInfo(tz)
        day = (now - timedelta(days=n)).astimezone(zone).date()
        for _ in range(self.CUTOFF_STEPS):
            if calendar.add_workdays(day, n, tz).is_overdue(now):
                return datetime.combine(day + timedelta(days=1), time(0), zone)
            day -= timedelta(days=1)
        return None  # pragma: no cover - a calendar without working days for a year

    def _counted(self, store, now, query, calendar, active) -> list[Firing]:
        """Late messages per group counted by the store (``query`` ends at the cutoff)."""
        rule, n = self.rule, self.rule.params["workdays"]
        if rule.group_by:
            name = rule.group_by[0]
            counts = {((name, k),): v for k, v in store.count_by_field(query, name).items()
                      if k != ""}  # as doc_groups: an empty value is no group
        else:
            total = store.count(query)
            counts = {(): total} if total else {}
        first = store.search(dataclasses.replace(query, sort="oldest", limit=1)).hits
        oldest = event_time(first[0].document) if first else now  # grouped or not
        note = self._note(self._fallback_years(store, query, calendar, oldest, now)
                          if first else [])
        window, out = (oldest, now), []
        for g, c in sorted(counts.items()):
            page = dataclasses.replace(query, sort="oldest", limit=rule.top)
            for name, value in g:
                setattr(page, name + "s", [value])
            out.append(Firing(rule, dict(g), c, window,
                              [h.document.id for h in store.search(page).hits],
                              f"{group_label(g)}：{c} 条留言超过 {n} 个工作日未答复{note}"))
        return out + resolved(rule, active, set(counts), window, counts, "超期留言已全部答复")

    def _fallback_years(self, store, query, calendar, oldest: datetime, now: datetime
                        ) -> list[int]:
        """The years without a holiday schedule that some late message's count runs through
        (what the scan collects from each deadline): for each such year between the oldest late
        message and ``now``, the latest late message that came early enough to count a day of
        it does so exactly when its last working day is in that year or later."""
        n, tz = self.rule.params["workdays"], self.rule.params["timezone"]
        zone, years = ZoneInfo(tz), []
        for year in calendar.fallback_years(oldest, now, tz):
            # days counted: after the message's date up to its last working day (n = 0: its date)
            last_date = date(year, 12, 31) - timedelta(days=1 if n else 0)
            until = datetime.combine(last_date + timedelta(days=1), time(0), zone)
            hits = store.search(dataclasses.replace(query, until=min(query.until, until),
                                                    sort="newest", limit=1)).hits
            if hits and calendar.add_workdays(event_time(hits[0].document), n,
                                              tz).last_day.year >= year:
                years.append(year)
        return years

    @staticmethod
    def _note(years) -> str:
        return (f"（{'、'.join(map(str, sorted(years)))} 年无节假日安排，按周一至周五计算）"
                if years else "")

    def _scanned(self, store, now, query, calendar, active, events) -> list[Firing]:
        """Late messages read one by one (any grouping; at most SCAN_LIMIT read)."""
        rule, n = self.rule, self.rule.params["workdays"]
        late: dict = {}
        oldest = now
        fallback: set[int] = set()
        for doc in scan(store, query, rule):
            if doc.replied:
                continue
            came = event_time(doc)
            due = calendar.add_workdays(came, n, rule.params["timezone"])
            if not due.is_overdue(now):
                continue
            fallback |= set(due.fallback_years)
            oldest = min(oldest, came)
            for g in doc_groups(rule, doc, None, events):
                late.setdefault(g, []).append(doc)
        note = self._note(fallback)
        window = (oldest, now)
        out = []
        for g, docs in sorted(late.items()):
            out.append(Firing(rule, dict(g), len(docs), window,
                              [d.id for d in docs[:rule.top]],
                              f"{group_label(g)}：{len(docs)} 条留言超过 {n} 个工作日未答复{note}"))
        return out + resolved(rule, active, set(late), window,
                              {g: len(d) for g, d in late.items()}, "超期留言已全部答复")
