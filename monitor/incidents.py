"""Incidents: opened from an alert, an event, a search or by hand, classified by a person.

An incident keeps three times — when it **occurred**, when the office **detected** it (an
alert's first firing, or the moment it was opened by hand) and when it was **confirmed** — its
level (特别重大 / 重大 / 较大 / 一般), its response category (the six of seed 001 (八)), its
jurisdiction and responsible unit, and the documents, alerts, events and searches linked to it.
Setting the level or category is a person's act, recorded with who, when and why; every act is
an entry of the incident's timeline and a row of the audit trail (:mod:`monitor.audit`) in the
same transaction.  A refused attempt (an unknown incident, level or person, a change after
closing, an impossible time) is audited in a transaction of its own, then raised as a one-line
:class:`NotFound` (a LookupError) or :class:`Refused` (a ValueError).  All time comes from the
injected clock.  See docs/incidents.md.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from sqlalchemy import insert, select, update

from alerts.tables import alerts as alerts_table
from monitor import audit
from monitor.incident_tables import (  # noqa: F401  (NotFound, Refused, Router re-exported)
    CATEGORIES, CLOSED, LEVELS, LINK_KINDS, OPEN, TABLES, Event, Incident, Link, NotFound,
    Refused, Router, aware, choice, incident_events, incident_links, incidents, iso,
    next_id, no_routing, person, required, utc)
from monitor.output import local_time
from monitor.state import ensure_schema

NEW = "(new)"  # the audit target of an open that was refused before it had an id


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Incidents:
    """The incidents of the state database.  ``people``: the names allowed to act (org.toml's
    contacts); None allows anyone (library use).  ``timezone``: the office's zone (ids are
    numbered per local day; messages show local times)."""

    def __init__(self, engine, *, clock: Callable[[], datetime] = _utcnow,
                 timezone: str = "Asia/Shanghai", people: Iterable[str] | None = None,
                 router: Router = no_routing):
        ensure_schema(engine, [*TABLES, *audit.TABLES, alerts_table])
        self.engine = engine
        self.clock = clock
        self.timezone = timezone
        self.people = None if people is None else list(people)
        self.router = router

    def _when(self, value: datetime | None) -> str:
        return local_time(value, self.timezone)

    # -- the frame of every act --------------------------------------------------------------

    def _act(self, action: str, target: str, by: str, attempt: dict, body) -> Any:
        """Run ``body(conn, now)`` in one transaction with its audit rows; a refusal is audited
        in a transaction of its own and raised."""
        now = self.clock()
        try:
            self._check_person(by)
            with audit.transaction(self.engine) as conn:
                return body(conn, now)
        except (NotFound, Refused) as exc:
            self.refused(action, target, by, str(exc), attempt, at=now)
            raise

    def refused(self, action: str, target: str, by: str, reason: str, attempt=None, *,
                at: datetime | None = None) -> None:
        """Audit a refused attempt in a transaction of its own (also for callers that refuse
        input before it reaches a method here, such as a time that does not parse)."""
        with audit.transaction(self.engine) as conn:
            audit.record(conn, actor=(by or "").strip() or "(nobody)", action=action,
                         target=target, after=attempt, refused=True, reason=reason,
                         at=at or self.clock())

    def _check_person(self, by: str) -> None:
        person(by, self.people)

    def _audit(self, conn, now, by, action, target, before=None, after=None, reason=""):
        # Ids, levels, times and reasons only: titles, summaries and notes may quote the
        # public, so they stay in the incident tables, not in the trail (docs/audit.md).
        audit.record(conn, actor=by.strip(), action=action, target=target, before=before,
                     after=after, reason=reason, at=now)

    def _event(self, conn, iid, at, recorded, by, kind, text, data=None) -> None:
        conn.execute(insert(incident_events).values(
            incident_id=iid, at=at, recorded_at=recorded, actor=by.strip(), kind=kind,
            text=text, data=data or {}))

    def _load(self, conn, iid: str, verb: str | None = None) -> Incident:
        row = conn.execute(select(incidents).where(incidents.c.id == iid)).first()
        if row is None:
            raise NotFound(f"no incident {iid!r}; see monitor incidents list --state all")
        incident = Incident.from_row(row)
        if verb and incident.state == CLOSED:
            raise Refused(f"incident {iid} was closed on {self._when(incident.closed_at)}; "
                          f"{verb} can no longer change")
        return incident

    # -- opening ------------------------------------------------------------------------------

    def open(self, title: str, *, by: str, occurred_at: datetime | None = None,
             detected_at: datetime | None = None, from_alert: str | None = None,
             from_search: str | None = None, from_event: str | None = None,
             documents: Iterable[str] = (), level: str | None = None,
             category: str | None = None, why: str = "", jurisdiction: str | None = None,
             unit: str | None = None) -> Incident:
        """Open an incident; from an alert it takes the alert's documents and its first firing
        as the detected time (else detected is now)."""
        documents = list(documents)
        attempt = {"occurred_at": iso(occurred_at) if isinstance(
            occurred_at, datetime) else None, "detected_at": iso(detected_at) if isinstance(
            detected_at, datetime) else None, "from_alert": from_alert, "from_search": from_search,
            "from_event": from_event, "documents": documents, "level": level,
            "category": category, "why": why, "jurisdiction": jurisdiction, "unit": unit}

        def body(conn, now):
            name = required(title, "an incident needs a title")
            lv = choice(level, LEVELS, "level") if level else None
            cat = choice(category, CATEGORIES, "category") if category else None
            reason = required(why, "setting a level or category needs a reason (--why)") \
                if lv or cat else ""
            occurred, detected = aware(occurred_at, "occurred"), aware(detected_at, "detected")
            links: list[tuple[str, str, str]] = []
            if from_alert:
                first, alert_links = self._alert_links(conn, from_alert)
                detected = detected or first
                links += alert_links
            links += [("document", d.strip(), "") for d in documents if d.strip()]
            links += [(k, r.strip(), "") for k, r in (("search", from_search),
                                                     ("event", from_event)) if r and r.strip()]
            detected = detected or now
            self._check_times(occurred, detected, None, now)
            iid = next_id(conn, now, self.timezone)
            draft = Incident(id=iid, title=name, state=OPEN, level=lv, category=cat,
                             jurisdiction=None, responsible_unit=None, occurred_at=occurred,
                             detected_at=detected, confirmed_at=None, opened_by=by.strip(),
                             created_at=now)
            made = [Link(iid, k, r, n, by.strip(), now) for k, r, n in dict.fromkeys(links)]
            routed = self.router(draft, made)
            draft.jurisdiction = (jurisdiction or "").strip() or routed[0]
            draft.responsible_unit = (unit or "").strip() or routed[1]
            row = {k: v for k, v in draft.__dict__.items()}
            conn.execute(insert(incidents).values(**row))
            for link in made:
                conn.execute(insert(incident_links).values(
                    incident_id=iid, kind=link.kind, ref=link.ref, note=link.note,
                    added_by=link.added_by, at=now))
            self._opening_events(conn, draft, made, from_alert, reason, now)
            kept = {k: v for k, v in draft.to_dict().items() if k not in ("title", "summary")}
            self._audit(conn, now, by, "incident.open", iid, None,
                        {**kept, "links": [[x.kind, x.ref] for x in made]})
            for field_, value in (("level", lv), ("category", cat)):
                if value:
                    self._audit(conn, now, by, f"incident.set_{field_}", iid, {field_: None},
                                {field_: value}, reason)
            return draft

        return self._act("incident.open", NEW, by, attempt, body)

    def _alert_links(self, conn, aid: str) -> tuple[datetime, list[tuple[str, str, str]]]:
        """The alert's first firing and its links: the alert and each of its documents (by id
        when the message has one, else by URL; alert notices carry the URL)."""
        row = conn.execute(select(alerts_table.c.first_fired_at, alerts_table.c.message)
                           .where(alerts_table.c.id == aid)).first()
        if row is None:
            raise NotFound(f"no alert {aid!r}; see monitor alerts list --state all")
        message = row.message or {}
        links = [("alert", aid, message.get("title") or "")]
        for doc in message.get("documents") or []:
            if isinstance(doc, str):
                links.append(("document", doc, ""))
            elif isinstance(doc, dict) and (doc.get("id") or doc.get("url")):
                links.append(("document", doc.get("id") or doc["url"], doc.get("title") or ""))
        return utc(row.first_fired_at), links

    def _check_times(self, occurred, detected, confirmed, now) -> None:
        for what, value in (("occurred", occurred), ("detected", detected),
                            ("confirmed", confirmed)):
            if value is not None and value > now:
                raise Refused(f"the {what} time {self._when(value)} is in the future "
                              f"(now {self._when(now)})")
        if occurred is not None and occurred > detected:
            raise Refused(f"occurred ({self._when(occurred)}) after it was detected "
                          f"({self._when(detected)}): check the times")
        if confirmed is not None and confirmed < detected:
            raise Refused(f"confirmed ({self._when(confirmed)}) before it was detected "
                          f"({self._when(detected)})")

    def _opening_events(self, conn, inc: Incident, links: list[Link], from_alert, why, now):
        by = inc.opened_by
        if inc.occurred_at is not None:
            self._event(conn, inc.id, inc.occurred_at, now, by, "occurred", "the event occurred")
        source = f"alert {from_alert} first fired" if from_alert else "opened by hand"
        self._event(conn, inc.id, inc.detected_at, now, by, "detected", f"detected: {source}",
                    {"from_alert": from_alert})
        docs = sum(1 for x in links if x.kind == "document")
        self._event(conn, inc.id, now, now, by, "opened",
                    f"opened: {inc.title}" + (f" ({docs} document(s) linked)" if docs else ""),
                    {"links": [[x.kind, x.ref] for x in links]})
        for field_, value in (("level", inc.level), ("category", inc.category)):
            if value:
                self._event(conn, inc.id, now, now, by, field_, f"{field_} set to {value}: {why}",
                            {"from": None, "to": value, "why": why})

    # -- a person's acts ----------------------------------------------------------------------

    def set_level(self, iid: str, level: str, *, by: str, why: str) -> Incident:
        """Set or change the level (特别重大 / 重大 / 较大 / 一般), with who and why."""
        return self._set(iid, "level", level, LEVELS, by=by, why=why)

    def set_category(self, iid: str, category: str, *, by: str, why: str) -> Incident:
        """Set or change the response category (one of the six of seed 001 (八)), with why."""
        return self._set(iid, "category", category, CATEGORIES, by=by, why=why)

    def _set(self, iid, field_, value, allowed, *, by, why) -> Incident:
        def body(conn, now):
            inc = self._load(conn, iid, f"its {field_}")
            new = choice(value, allowed, field_)
            reason = required(why, f"changing the {field_} needs a reason (--why)")
            old = getattr(inc, field_)
            if old == new:
                raise Refused(f"incident {iid} is already {field_} {new}")
            conn.execute(update(incidents).where(incidents.c.id == iid).values({field_: new}))
            self._event(conn, iid, now, now, by, field_,
                        f"{field_} {old or 'unset'} → {new}: {reason}",
                        {"from": old, "to": new, "why": reason})
            self._audit(conn, now, by, f"incident.set_{field_}", iid, {field_: old},
                        {field_: new}, reason)
            return self._load(conn, iid)

        return self._act(f"incident.set_{field_}", iid, by, {field_: value, "why": why}, body)

    def confirm(self, iid: str, at: datetime, *, by: str) -> Incident:
        """Record when the incident was confirmed (not before it was detected, not future)."""
        def body(conn, now):
            inc = self._load(conn, iid, "its confirmation")
            when = aware(at, "confirmed")
            if inc.confirmed_at is not None:
                raise Refused(f"incident {iid} was already confirmed at "
                              f"{self._when(inc.confirmed_at)}")
            self._check_times(inc.occurred_at, inc.detected_at, when, now)
            conn.execute(update(incidents).where(incidents.c.id == iid)
                         .values(confirmed_at=when))
            self._event(conn, iid, when, now, by, "confirmed", "confirmed")
            self._audit(conn, now, by, "incident.confirm", iid, {"confirmed_at": None},
                        {"confirmed_at": iso(when)})
            return self._load(conn, iid)

        return self._act("incident.confirm", iid, by, {"confirmed_at": iso(at) if isinstance(
            at, datetime) else str(at)}, body)

    def link(self, iid: str, kind: str, ref: str, *, by: str, note: str = "") -> list[Link]:
        """Link a document, alert, event or search; an alert brings its documents along.
        Returns the links added."""
        def body(conn, now):
            self._load(conn, iid, "its links")
            k = choice(kind, LINK_KINDS, "link kind")
            r = required(ref, f"a {k} link needs an id")
            wanted = self._alert_links(conn, r)[1] if k == "alert" else [(k, r, note)]
            have = {(x.kind, x.ref) for x in self.links(iid, conn=conn)}
            if (k, r) in have:
                raise Refused(f"{k} {r} is already linked to incident {iid}")
            added = [Link(iid, a, b, c or "", by.strip(), now) for a, b, c in wanted
                     if (a, b) not in have]
            for x in added:
                conn.execute(insert(incident_links).values(
                    incident_id=iid, kind=x.kind, ref=x.ref, note=x.note, added_by=x.added_by,
                    at=now))
            refs = {"links": [[x.kind, x.ref] for x in added]}
            self._event(conn, iid, now, now, by, "linked", f"linked {k} {r}"
                        + (f" and {len(added) - 1} document(s)" if len(added) > 1 else "")
                        + (f": {note}" if note else ""), refs)
            self._audit(conn, now, by, "incident.link", iid, None, refs)
            return added

        return self._act("incident.link", iid, by, {"kind": kind, "ref": ref}, body)

    def assign(self, iid: str, *, by: str, why: str, jurisdiction: str | None = None,
               unit: str | None = None) -> Incident:
        """Override the jurisdiction and/or the responsible unit (free text for now)."""
        def body(conn, now):
            inc = self._load(conn, iid, "its jurisdiction and unit")
            changes = {k: v.strip() for k, v in (("jurisdiction", jurisdiction),
                                                 ("responsible_unit", unit)) if v and v.strip()}
            if not changes:
                raise Refused("name a jurisdiction or a responsible unit")
            reason = required(why, "changing who is responsible needs a reason (--why)")
            before = {k: getattr(inc, k) for k in changes}
            conn.execute(update(incidents).where(incidents.c.id == iid).values(**changes))
            label = {"jurisdiction": "jurisdiction", "responsible_unit": "unit"}
            self._event(conn, iid, now, now, by, "assigned", ", ".join(
                f"{label[k]} {before[k] or 'unset'} → {v}" for k, v in changes.items())
                + f": {reason}",
                {"from": before, "to": changes, "why": reason})
            self._audit(conn, now, by, "incident.assign", iid, before, changes, reason)
            return self._load(conn, iid)

        return self._act("incident.assign", iid, by, {"jurisdiction": jurisdiction,
                                                      "unit": unit, "why": why}, body)

    def close(self, iid: str, summary: str, *, by: str) -> Incident:
        """Close the incident with a summary; afterwards nothing about it changes."""
        def body(conn, now):
            self._load(conn, iid, "it")
            text = required(summary, "closing needs a summary (--summary)")
            conn.execute(update(incidents).where(incidents.c.id == iid).values(
                state=CLOSED, closed_at=now, closed_by=by.strip(), summary=text))
            self._event(conn, iid, now, now, by, "closed", f"closed: {text}")
            self._audit(conn, now, by, "incident.close", iid, {"state": OPEN},
                        {"state": CLOSED})
            return self._load(conn, iid)

        return self._act("incident.close", iid, by, {"state": CLOSED}, body)

    # -- reading ------------------------------------------------------------------------------

    def get(self, iid: str) -> Incident | None:
        """The incident, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(incidents).where(incidents.c.id == iid)).first()
        return Incident.from_row(row) if row else None

    def list(self, state: str | None = OPEN) -> list[Incident]:
        """Incidents, newest first; ``state`` open, closed, or None / ``all`` for every one."""
        query = select(incidents).order_by(incidents.c.created_at.desc(), incidents.c.id.desc())
        if state not in (None, "all"):
            query = query.where(incidents.c.state == choice(state, (OPEN, CLOSED), "state"))
        with self.engine.connect() as conn:
            return [Incident.from_row(r) for r in conn.execute(query)]

    def links(self, iid: str, *, conn=None) -> list[Link]:
        """The incident's links in the order they were added."""
        query = select(incident_links).where(incident_links.c.incident_id == iid).order_by(
            incident_links.c.id)
        if conn is not None:
            return [Link.from_row(r) for r in conn.execute(query)]
        with self.engine.connect() as own:
            return [Link.from_row(r) for r in own.execute(query)]

    def timeline(self, iid: str) -> list[Event]:
        """Every entry of the incident's timeline in order of when it happened (ties in the
        order they were recorded)."""
        with self.engine.connect() as conn:
            self._load(conn, iid)
            rows = conn.execute(select(incident_events).where(
                incident_events.c.incident_id == iid).order_by(
                incident_events.c.at, incident_events.c.id))
            return [Event.from_row(r) for r in rows]
