"""From a rule's firing to an alert: :class:`Firing` → ``alerts.lifecycle.Firing``, and the
calls that open, update or clear the group's alert.

The rule side knows documents by id; the alert side wants them self-contained
(``AlertDoc``: title, source, time, link), so the top documents are read from the store here.
"""
from __future__ import annotations

from alerts.message import AlertDoc
from alerts.ruletypes._common import Firing, event_time


def alert_docs(store, ids: list[str], snippet: int = 80) -> list[AlertDoc]:
    """The documents behind ``ids`` as alert documents (ids no longer stored are skipped)."""
    docs = []
    for doc_id in ids:
        doc = store.get(doc_id)
        if doc is None:
            continue
        text = " ".join((doc.text or "").split())
        docs.append(AlertDoc(title=doc.title or text[:30] or doc.url, source=doc.source,
                             channel=doc.channel, url=doc.url, published_at=event_time(doc),
                             snippet=text[:snippet], risk=doc.risk))
    return docs


def to_alert(firing: Firing, store):
    """The lifecycle's ``Firing`` for one of ours (realert and channels from the rule).

    ``fired_at`` is the window's end (for ``Match.firing(document)``: just after the document's
    time), which the schedule fixes, so an evaluation replayed after a crash gives the same
    alert id.
    """
    from alerts.lifecycle import Firing as AlertFiring

    rule = firing.rule
    title = rule.title + (f"（{'，'.join(firing.group.values())}）" if firing.group else "")
    docs = alert_docs(store, firing.documents)
    return AlertFiring(rule=rule.id, group=dict(firing.group), severity=rule.severity,
                       title=title, reason=firing.reason, channels=list(rule.channels),
                       rule_name=rule.title, fired_at=firing.first or firing.window[1],
                       count=firing.count, window=firing.window, documents=docs,
                       realert=float(rule.realert_minutes * 60),
                       aggregate=float(rule.aggregation_minutes * 60),
                       aggregate_cron=rule.aggregation_cron,
                       # a source's maintenance holds it only if all it saw came from there
                       sources=([firing.group["source"]] if firing.group.get("source") else
                                list(rule.filters.sources) or
                                list(dict.fromkeys(d.source for d in docs if d.source))))


def apply(firings: list[Firing], alerts, store, *, now=None, conn=None) -> list:
    """Hand firings to an ``alerts.lifecycle.Alerts``: fire the firing groups and clear the
    resolved ones (in ``conn``'s transaction when given).  Returns the alerts touched."""
    touched = []
    for firing in firings:
        if firing.resolved:
            alert = alerts.clear(firing.rule.id, firing.group, now=now, conn=conn)
        else:
            alert = alerts.fire(to_alert(firing, store), now=now, conn=conn)
        if alert is not None:
            touched.append(alert)
    return touched
