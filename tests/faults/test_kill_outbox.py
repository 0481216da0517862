"""kill -9 the outbox sender in the middle of a batch, restart it: every notice arrives, none is
lost, and a repeat is only ever the same notice id (at-least-once, deduplicated by id).

The sender is a real process of its own (``deliver_due`` in a loop against the loopback webhook
receiver); the moment of the kill is seeded.  Nothing here sleeps to assert: waits poll with a
deadline.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from alerts.channels.webhook import WebhookChannel
from alerts.message import AlertMessage
from alerts.outbox import Outbox
from monitor.state import StateDB

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from receivers import Receiver  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTICES = 150
SENDER = """
import sys, time
from alerts.channels.webhook import WebhookChannel
from alerts.outbox import Outbox, RetryPolicy
from monitor.state import StateDB
db, url = sys.argv[1], sys.argv[2]
engine = StateDB("sqlite:///" + db).engine
box = Outbox(engine, {"hook": WebhookChannel("hook", {"url": url, "timeout": 1.0})},
             policy=RetryPolicy(base=0.05, cap=0.2, stale_grace=0.2, max_attempts=100))
print("ready", flush=True)
while True:
    box.deliver_due(limit=5)
    counts = box.counts()
    if not counts.get("pending") and not counts.get("sending"):
        break
    time.sleep(0.02)
print("done", counts, flush=True)
"""


def wait_for(what: str, check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def start(db: Path, url: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", SENDER, str(db), url], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 11])
def test_kill_9_mid_batch_then_restart_delivers_every_notice(tmp_path, seed):
    rng = random.Random(seed)
    db = tmp_path / "state.db"
    engine = StateDB(f"sqlite:///{db}").engine
    with Receiver() as rx:
        url = rx.url("webhook")
        box = Outbox(engine, {"hook": WebhookChannel("hook", {"url": url})})
        t0 = datetime.now(timezone.utc) - timedelta(minutes=1)
        expected = set()
        for i in range(NOTICES):
            message = AlertMessage(alert_id=f"kill-{seed}-{i:03d}", kind="firing", rule="kill",
                                   rule_name="kill", severity="warning", title=f"第 {i} 条",
                                   reason="test", fired_at=t0 + timedelta(seconds=i))
            box.enqueue(message, ["hook"], now=t0)
            expected.add(message.notice_id)

        kill_after = rng.randint(10, 100)
        sender = start(db, url)
        try:
            wait_for(f"{kill_after} requests at the receiver",
                     lambda: len(rx.received) >= kill_after, 60)
            os.kill(sender.pid, signal.SIGKILL)
            sender.wait(10)
        finally:
            if sender.poll() is None:
                sender.kill()
        counts = box.counts()
        assert sender.returncode == -signal.SIGKILL
        assert counts.get("pending", 0) + counts.get("sending", 0) > 0, counts  # mid-batch
        assert len(rx.received) < NOTICES

        again = start(db, url)
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err[-2000:]
        assert "done" in out

        seen = Counter(r.json["notice_id"] for r in rx.accepted("webhook"))
        assert set(seen) == expected  # nothing lost, nothing foreign
        repeats = {n: c for n, c in seen.items() if c > 1}
        assert sum(repeats.values()) - len(repeats) <= 1  # at most the one send cut short
        assert box.counts() == {"sent": NOTICES}
        # the one request the kill may have cut in half arrives broken, answered as an error
        broken = [(r.status, r.problems, len(r.body)) for r in rx.received if not r.accepted]
        assert len(broken) <= 1, broken
        print(f"seed {seed}: killed after {kill_after} requests; {len(rx.received)} requests, "
              f"{sum(seen.values())} accepted, repeats {repeats}, broken {broken}")
