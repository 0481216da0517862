"""Shared helpers of the alert and service tests: an injected clock, log channels that write
JSON lines, and what they received."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from alerts.channels.log import LogChannel

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai


class Clock:
    """``clock()`` is now; ``at(minutes)`` sets it to ``start`` + minutes, ``advance(...)``
    moves it by a timedelta's keywords."""

    def __init__(self, start: datetime = T0):
        self.start = start
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> datetime:
        self.now = self.start + timedelta(minutes=minutes)
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def log_channels(folder: Path, names=("duty", "chief")) -> dict:
    """Log channels that also append each notice to ``folder/<name>.jsonl``."""
    return {n: LogChannel(n, {"file": str(Path(folder) / f"{n}.jsonl")}) for n in names}


def log_lines(box, folder: Path, channel: str = "duty") -> list[dict]:
    """Every line a log channel wrote so far (after the outbox delivered what is due)."""
    box.deliver_due()
    path = Path(folder) / f"{channel}.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def logged(box, folder: Path, channel: str = "duty") -> list[dict]:
    """Every message a log channel got so far."""
    return [line["message"] for line in log_lines(box, folder, channel)]


def run_together(script: str, url: str, names, count: int, go: Path) -> None:
    """Start one ``python -c script url name count go`` child per name, let them go at once
    (they wait for the file ``go``), and check each printed ``done``."""
    import subprocess
    import sys

    children = [subprocess.Popen([sys.executable, "-c", script, url, name, str(count), str(go)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for name in names]
    Path(go).touch()
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0 and out.strip() == "done", err
