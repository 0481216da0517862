"""Deadline steps fired on time with many open clocks (issue 8): 1,000 open clocks against 10.

    python bench/bench_clocks.py            # 10 and 1,000 clocks, steps over 20 s
    python bench/bench_clocks.py --quick    # 10 and 200, over 8 s

Each clock is one incident with a step due at a random moment in the next ``span`` seconds
(plus one far-off step, so that every clock stays open), armed before the service starts.  The
real service loop runs (``Service.start(); run_forever()`` in this process, wall clock); a
``Clocks`` subclass notes when each step fires.  Reported: fired − due, p50 / p99 / max, beside
the same run with 10 clocks.  Times are wall clock on a shared machine: read the load average.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.clocks import StepSpec  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.service import Service  # noqa: E402
from monitor.starter import write_config  # noqa: E402


def run(clocks: int, span: float, seed: int = 7) -> dict:
    """Arm ``clocks`` clocks, run the service until every near step fired; the lateness."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="bench-clocks-") as tmp:
        cfg = Path(tmp) / "config"
        write_config(cfg, sources=[], disabled=["sentiment_snownlp"])
        config = load_config(cfg)
        service = Service(config, channels={})
        service.start()
        fired: dict[str, float] = {}
        real = service.clocks._fire

        def noting(row, now):
            done = real(row, now)
            if done is not None:
                fired[f"{row.incident}/{row.key}"] = time.time()
            return done

        service.clocks._fire = noting
        start = datetime.now(timezone.utc) + timedelta(seconds=2)
        due: dict[str, float] = {}
        for i in range(clocks):
            at = start + timedelta(seconds=rng.uniform(0, span))
            service.clocks.arm(f"INC-{i:05d}", [
                StepSpec("c/warn", "c", "warn", at),
                StepSpec("c/due", "c", "due", start + timedelta(days=1), limit=True)])
            due[f"INC-{i:05d}/c/warn"] = at.timestamp()
        loop = threading.Thread(target=service.run_forever, daemon=True)
        loop.start()
        deadline = time.time() + span + 30
        while len(fired) < clocks and time.time() < deadline:
            time.sleep(0.1)
        service.request_stop("benchmark over")
        loop.join(30)
        service.stop()
    late = sorted(fired[k] - due[k] for k in due if k in fired)
    return {"clocks": clocks, "fired": len(late),
            "p50": statistics.median(late), "p99": late[int(0.99 * (len(late) - 1))],
            "max": late[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes, span = ((10, 200), 8.0) if args.quick else ((10, 1000), 20.0)
    rows = [run(n, span) for n in sizes]
    print(f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| open clocks | steps fired | fired − due p50 s | p99 s | max s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clocks']:,} | {r['fired']:,} | {r['p50']:.3f} | {r['p99']:.3f} | "
              f"{r['max']:.3f} |")


if __name__ == "__main__":
    main()
