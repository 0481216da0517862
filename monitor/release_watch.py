"""Release detection (issue 8, item 4): a document the office's own channels publish
(``own = true`` sources: the portal's 新闻发布 column, the 政务微博) that matches an open incident
still waiting for its authoritative release is **proposed** as that release — added to the
incident's timeline with its URL and time, and the press contact told — so that a person
confirms it with ``monitor incidents release``.  Nothing is recorded as the release without a
person: the seeds make the release a duty of named people (docs/incidents.md).

An incident's match is its ``search`` links (store query syntax: words, "phrases", OR, -word)
when it has any, otherwise every word of its title (jieba): 青石乡中心小学围墙倒塌 matches 关于
青石乡中心小学围墙倒塌事件的情况通报.  Matching is by characters, as per-document rules match
(alerts/ruletypes/_common.py ``text_matches``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from alerts.rules import Rule
from alerts.ruletypes._common import text_matches
from monitor.documents import Document
from monitor.store import INSERTED, UPDATED

log = logging.getLogger(__name__)

TOLD = ["新闻发言人", "责任单位"]  # who hears of a proposed release (org.toml roles)
ACTOR = "monitor run"


@dataclass
class Proposal:
    """One document proposed as the release of one incident."""

    incident: str
    document: str
    url: str
    at: datetime


def _query(incident, links) -> Rule:
    searches = [x.ref for x in links if x.kind == "search"]
    if searches:
        return Rule(id="release", type="match", query=" OR ".join(f"({q})" if " " in q else q
                                                                  for q in searches[:1]))
    from monitor import textseg

    words = [w for w in textseg.tokens(incident.title) if len(w.strip()) >= 2]
    return Rule(id="release", type="match", query=" ".join(words))


def watch(response, pairs, now: datetime, *, outbox=None, route=None) -> list[Proposal]:
    """Propose every newly stored own-channel document that matches an open incident without
    a release; returns the proposals made (each once per incident and document)."""
    own = [d for d, status in pairs if d.own and status in (INSERTED, UPDATED)]
    if not own:
        return []
    proposals = []
    for inc in response.incidents.list("open"):
        if response.released_at(inc.id) is not None:
            continue
        events = response.incidents.timeline(inc.id)
        seen = {(e.data or {}).get("document") for e in events if e.kind == "release_proposed"}
        rule = _query(inc, response.incidents.links(inc.id))
        if not rule.query.strip():
            continue
        for doc in own:
            if doc.id in seen or not text_matches(rule, doc):
                continue
            proposals.append(_propose(response, inc, doc, now, outbox, route))
            seen.add(doc.id)
    return proposals


def _propose(response, inc, doc: Document, now: datetime, outbox, route) -> Proposal:
    inc_ = response.incidents
    at = doc.published_at or doc.crawled_at
    text = (f"疑似权威发布：{doc.source} {doc.title or ''} {doc.url}（请核实后用 "
            f"monitor incidents release {inc.id} 记录）")

    def body(conn, clock_now):
        inc_._event(conn, inc.id, at, clock_now, ACTOR, "release_proposed", text,
                    {"document": doc.id, "url": doc.url, "source": doc.source,
                     "at": at.isoformat()})
        inc_._audit(conn, clock_now, ACTOR, "incident.release_proposed", inc.id, None,
                    {"document": doc.id, "at": at.isoformat()})
        channels = list(dict.fromkeys(route(TOLD))) if route is not None else []
        if outbox is not None and channels:
            outbox.enqueue(_message(inc, doc, at, text, response.incidents.timezone), channels,
                           conn=conn, now=clock_now)

    inc_._act("incident.release_proposed", inc.id, ACTOR, {"document": doc.id}, body)
    log.info("incident %s: %s proposed as its release", inc.id, doc.url)
    return Proposal(inc.id, doc.id, doc.url, at)


def _message(inc, doc: Document, at: datetime, text: str, zone: str):
    from alerts.message import AlertDoc, AlertMessage

    return AlertMessage(
        alert_id=f"{inc.id}.release-proposed.{doc.id}", kind="reminder", rule="release",
        rule_name="权威发布识别", severity="warning", title=f"【发布待确认】{inc.id} {inc.title}",
        reason=text, fired_at=at, group={"incident": inc.id}, timezone=zone,
        documents=[AlertDoc(title=doc.title or doc.url, source=doc.source, channel=doc.channel,
                            url=doc.url, published_at=at)])
