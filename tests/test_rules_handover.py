"""A rule's firings handed to the real alert lifecycle: one alert with the top documents for a
burst, then a resolved notice when it subsides (log channel, real state database)."""
from __future__ import annotations

import json
import random
from datetime import timedelta

from alerts.channels.log import LogChannel
from alerts.lifecycle import Alerts
from alerts.outbox import Outbox
from alerts.ruletypes import make
from alerts.ruletypes.handover import apply
from monitor.state import StateDB
from monitor.store import StoreConfig
from monitor.store.embedded import EmbeddedStore
from rules_helpers import NOW, at, rule

BURST = ('name = "围墙倒塌"\ntype = "frequency"\nwindow_minutes = 60\nmin_count = 3\n'
         'query = "围墙"\ngroup_by = ["place"]\nchannels = ["duty"]\nrealert_minutes = 30\n')


def test_burst_becomes_one_alert_with_its_documents_then_resolves(tmp_path):
    clock = {"now": NOW}
    engine = StateDB(f"sqlite:///{tmp_path / 'state.db'}").engine
    log = tmp_path / "duty.jsonl"
    box = Outbox(engine, {"duty": LogChannel("duty", {"file": str(log)})},
                 clock=lambda: clock["now"], rng=random.Random(1))
    book = Alerts(box)
    r = rule(BURST, "school-wall")
    docs = [at(m, place="城关镇", risk=0.1 * m) for m in (1, 2, 3, 4)] + [at(5, place="河口乡")]
    with EmbeddedStore(StoreConfig(path=tmp_path / "docs.db")) as store:
        store.put_many(docs)
        firings = make(r).evaluate(store, NOW)
        assert [(f.group, f.count) for f in firings] == [({"place": "城关镇"}, 4)]
        [alert] = apply(firings, book, store, now=NOW)
        # evaluated again five minutes later: the same alert, no second notice (realert)
        clock["now"] = later = NOW + timedelta(minutes=5)
        again = make(r).evaluate(store, later)
        assert [a.id for a in apply(again, book, store, now=later)] == [alert.id]
        box.deliver_due()
        sent = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        assert [s["message"]["kind"] for s in sent] == ["firing"]
        message = sent[0]["message"]
        assert message["count"] == 4 and message["group"] == {"place": "城关镇"}
        assert [d["url"] for d in message["documents"]] == [docs[i].url for i in (3, 2, 1, 0)]
        assert "城关镇" in message["title"] and "4 条" in message["reason"]
        # two hours on, the burst has left the window: resolved notice
        clock["now"] = gone = NOW + timedelta(hours=2)
        done = make(r).evaluate(store, gone, active={f.key for f in firings})
        assert [f.resolved for f in done] == [True]
        apply(done, book, store, now=gone)
        box.deliver_due()
        sent = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        assert [s["message"]["kind"] for s in sent] == ["firing", "resolved"]
        assert {s["message"]["alert_id"] for s in sent} == {alert.id}
