"""Kill tests (issue 6, defect 4): ``kill -9`` of the crawler and of ``monitor crawl`` at random
points of a real crawl of the demo site, SIGTERM and SIGHUP of ``monitor crawl``; after each, a
re-crawl stores every letter exactly once, the store passes its integrity check, and no run is
left ``running``.

The random points come from ``random.Random(KILL_SEED + lane)`` (``KILL_SEED`` and
``KILL_COUNT`` can be set in the environment); a failure names the seed, the lane and the
attempt.  Each test prints its tally (run pytest with ``-s`` to see it).
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from _killkit import (SOURCE, DemoServer, Lane, gone, letter_urls, make_lane,
                      running_crawler, runs, serve, start_monitor, stored, wait_for, work_dirs)
from monitor.crawl import crawl_command, crawl_env, run_crawl
from monitor.demo.site import build_site

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("KILL_SEED", "6004"))
KILLS = int(os.environ.get("KILL_COUNT", "20"))  # per kind, over both lanes
LANES = 2
LETTERS = 120  # the demo mailbox; the ingest batch is 100
# where a kill lands, in turn: start-up, or once so many letters were served (drawn from a range)
PHASES = [("start-up", None), ("1-99 letters served", (1, 99)),
          ("100-120 letters served", (100, LETTERS)), ("1-120 letters served", (1, LETTERS))]
KILLED = "the crawler was killed by signal SIGKILL (9)"


@pytest.fixture(scope="module")
def site_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("killsite")
    build_site(root, seed=7)
    return root


@contextmanager
def _lanes(tmp_path: Path, site_root: Path) -> Iterator[list[tuple[Lane, DemoServer]]]:
    """LANES lanes, each with its own server (every response 20 ms late), so that the letters
    served tell how far each lane's crawl has come."""
    with ExitStack() as stack:
        sites = [stack.enter_context(serve(site_root, delay=0.02)) for _ in range(LANES)]
        yield [(make_lane(tmp_path / f"lane{n}", site.base_url), site)
               for n, site in enumerate(sites)]


def _kill_loop(tmp_path: Path, site_root: Path, count: int, name: str, strike) -> Counter:
    """``count`` times, spread over the lanes running side by side: start ``monitor crawl``,
    wait for a random point of the crawl, ``strike(lane_no, attempt, lane, owner, crawler,
    fresh, where, tally)`` (the kill and its checks), then crawl again and check the store and
    the runs.  The summed tallies (printed); no item lost, no duplicate, no run running."""
    share = [count // LANES + (n < count % LANES) for n in range(LANES)]

    def work(n: int, lane: Lane, site: DemoServer) -> Counter:
        rng, tally = random.Random(SEED + n), Counter()
        expected = letter_urls(site_root, site.base_url)
        assert len(expected) == LETTERS
        for attempt in range(share[n]):
            where = f"seed {SEED} lane {n} attempt {attempt}"
            fresh = _prepare(lane, site, attempt)
            owner = start_monitor(lane, f"{name}-{attempt}")
            crawler = running_crawler(lane, owner)
            assert crawler, f"{where}: `monitor crawl` ended before its crawler was recorded"
            _kill_point(rng, attempt, site, owner, crawler, tally)
            strike(n, attempt, lane, owner, crawler, fresh, where, tally)
            assert work_dirs(lane) == [], where  # removed by `monitor crawl`, the crawler or
            _recrawl_and_check(lane, expected, where, tally)  # the next open of the state db
        return tally

    with _lanes(tmp_path, site_root) as lanes, ThreadPoolExecutor(LANES) as pool:
        futures = [pool.submit(work, n, lane, site) for n, (lane, site) in enumerate(lanes)]
        tally = sum((f.result() for f in futures), Counter())
    print(f"\n{name} (seed {SEED}): {dict(sorted(tally.items()))}")
    assert tally["items lost"] == tally["duplicates"] == tally["runs left running"] == 0
    return tally


def _kill_point(rng: random.Random, attempt: int, site: DemoServer, owner, crawler: int,
                tally: Counter) -> None:
    """Wait for a random point of the crawl, in the phase that comes round with ``attempt``:
    start-up (up to 0.6 s after the crawler was recorded), or once ``point`` letters were
    served, ``point`` drawn from 1–99, 100–120 (the first ingest batch of 100 is written a
    little after the 100th letter is served; 120 is every page served) or 1–120."""
    phase, letters = PHASES[attempt % len(PHASES)]
    if letters is None:
        time.sleep(rng.uniform(0, 0.6))
        point = 0
    else:
        point = rng.randint(*letters)
    wait_for(f"{point} letters served", lambda: len(site.details) >= point
             or owner.poll() is not None or gone(crawler), timeout=60, step=0.01)
    tally[f"at: {phase}"] += 1


def _prepare(lane: Lane, site: DemoServer, attempt: int) -> bool:
    """An empty store for most attempts; every fifth kill lands in a re-crawl of a complete
    store (the usual case in production).  True when the store was emptied."""
    site.reset()
    if attempt % 5 == 4:
        return False
    lane.reset_store()
    return True


def _landed(lane: Lane, fresh: bool, tally: Counter) -> None:
    """Tally what the killed crawl had stored."""
    count = stored(lane).count
    tally["stored: re-crawl of a complete store" if not fresh else
          "stored: nothing yet" if count == 0 else
          "stored: part" if count < LETTERS else "stored: all, run unfinished"] += 1


def _recrawl_and_check(lane: Lane, expected: set[str], where: str, tally: Counter) -> None:
    """Crawl again to the end; every letter once, the index consistent, no run running."""
    result = run_crawl(lane.config(), SOURCE)
    assert result.status == "ok", f"{where}: re-crawl {result.message}"
    after = stored(lane)
    tally["items lost"] += len(expected - set(after.urls))
    tally["duplicates"] += len(after.urls) - len(set(after.urls))
    tally["runs left running"] += sum(r.status == "running" for r in runs(lane))
    assert after.problems == [], f"{where}: {after.problems}"
    assert sorted(after.urls) == sorted(expected), where
    assert after.count == len(expected) == len(set(after.ids)), where
    assert [r.id for r in runs(lane) if r.status == "running"] == [], where


def test_kill_9_of_the_crawler_then_recrawl(site_root, tmp_path):
    def strike(lane_no, attempt, lane, owner, crawler, fresh, where, tally):
        try:
            os.kill(crawler, signal.SIGKILL)
        except ProcessLookupError:
            pass
        tally["kills tried"] += 1
        code = owner.wait(timeout=60)
        (run,) = [r for r in runs(lane) if r.owner_pid == owner.pid]
        if run.status == "ok":  # the crawl had ended (a zombie took the signal)
            assert code == 0, where
            tally["kill: after the crawl ended"] += 1
        else:
            assert (run.status, run.message, code) == ("failed", KILLED, 1), where
            assert stored(lane).problems == [], where
            _landed(lane, fresh, tally)

    tally = _kill_loop(tmp_path, site_root, KILLS, "kill -9 of the crawler", strike)
    assert tally["kills tried"] == KILLS


def test_kill_9_of_monitor_crawl_then_recrawl(site_root, tmp_path):
    """The crawler dies with its parent; the next open of the state database closes the run."""
    def strike(lane_no, attempt, lane, owner, crawler, fresh, where, tally):
        owner.kill()
        owner.wait(timeout=10)
        tally["kills tried"] += 1
        wait_for(f"{where}: crawler {crawler} ends after its parent", lambda: gone(crawler),
                 timeout=20)
        (run,) = [r for r in runs(lane) if r.owner_pid == owner.pid]  # this open closes it
        if run.status == "ok":
            tally["kill: after the crawl was recorded"] += 1
        else:
            assert run.status == "failed", where
            assert run.message == (f"interrupted: the monitor process (pid {owner.pid}) "
                                   f"that ran it is gone"), where
            assert stored(lane).problems == [], where
            _landed(lane, fresh, tally)

    tally = _kill_loop(tmp_path, site_root, KILLS, "kill -9 of monitor crawl", strike)
    assert tally["kills tried"] == KILLS


def test_sigterm_and_sighup_of_monitor_crawl(site_root, tmp_path):
    """Handled like Ctrl-C: the crawler is stopped (its last batch stored), the run recorded as
    interrupted with the signal's name, the exit status is 128 + the signal, no traceback."""
    def strike(lane_no, attempt, lane, owner, crawler, fresh, where, tally):
        sig = (signal.SIGTERM, signal.SIGHUP)[(attempt + lane_no) % 2]
        owner.send_signal(sig)
        code = owner.wait(timeout=30)
        assert gone(crawler), f"{where}: the crawler outlived `monitor crawl`"
        output = (lane.root / f"signals-{attempt}.log").read_text(errors="replace")
        assert "Traceback" not in output, f"{where}: {output}"
        (run,) = [r for r in runs(lane) if r.owner_pid == owner.pid]
        tally[f"{sig.name} sent"] += 1
        if run.status == "ok":  # the crawl was over (and recorded) when the signal came
            assert code in (0, 128 + sig, -sig), where
            tally[f"{sig.name}: after the crawl"] += 1
        else:
            assert (run.status, run.message, code) == (
                "failed", f"interrupted ({sig.name})", 128 + sig), f"{where}: {output}"
            if fresh:  # the run counts what the stopped crawler stored
                assert run.items == run.inserted == stored(lane).count, where
            tally[f"{sig.name}: interrupted"] += 1

    tally = _kill_loop(tmp_path, site_root, 6, "signals", strike)
    assert tally["SIGTERM sent"] == tally["SIGHUP sent"] == 3


def _crawl_log(lane: Lane) -> str:
    text = ""
    for work in work_dirs(lane):
        try:
            text += (work / "crawl.log").read_text(errors="replace")
        except OSError:
            pass
    return text


def test_crawler_of_a_killed_monitor_stores_what_it_collected(site_root, tmp_path):
    """Letters after the first 30 are held by the server; ``monitor crawl`` is killed -9 while
    they are: the crawler closes by itself, the held pages complete, and every letter it was
    given is stored (the pipeline's close flushed them), its work directory removed."""
    with serve(site_root, open_details=30) as site:
        lane = make_lane(tmp_path / "lane", site.base_url)
        owner = start_monitor(lane, "gated")
        crawler = running_crawler(lane, owner)
        assert crawler
        wait_for("30 letters served", lambda: len(site.details) >= 30, timeout=30)
        owner.kill()
        owner.wait(timeout=10)
        wait_for("the crawler closes its spider", lambda: "Closing spider (" in _crawl_log(lane),
                 timeout=15)
        site.release()
        wait_for(f"crawler {crawler} ends", lambda: gone(crawler), timeout=20)
        served = {f"{site.base_url}{path}" for path in site.details}
    after = stored(lane)
    assert after.problems == []
    assert 30 <= after.count < 120
    assert sorted(after.urls) == sorted(served)
    assert work_dirs(lane) == []
    (run,) = runs(lane)
    assert run.status == "failed" and run.crawler_pid == crawler
    assert run.message == f"interrupted: the monitor process (pid {owner.pid}) that ran it is gone"


def test_watchdog_closes_the_spider_when_its_parent_is_gone(site_root, tmp_path):
    """Without the parent-death signal (the crawler's real parent is alive; the pid it watches
    is another process): the watchdog sees the pid end, closes the spider ("parent gone"), the
    documents collected are stored and the work directory it was given is removed."""
    with serve(site_root, open_details=30) as site:
        lane = make_lane(tmp_path / "lane", site.base_url)
        config = lane.config()
        out = tmp_path / "out"
        out.mkdir()
        work = lane.tmpdir / "monitor-crawl-watched"
        work.mkdir()
        fake_parent = subprocess.Popen(["sleep", "120"])
        cmd = crawl_command(config, SOURCE, out)
        watched = {f"MONITOR_PARENT_PID={os.getpid()}": f"MONITOR_PARENT_PID={fake_parent.pid}",
                   f"MONITOR_WORKDIR={out}": f"MONITOR_WORKDIR={work}"}
        cmd = [watched.get(arg, arg) for arg in cmd]
        with open(out / "crawl.log", "wb") as log:
            crawler = subprocess.Popen(cmd, cwd=out, env=crawl_env(), stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for("30 letters served", lambda: len(site.details) >= 30, timeout=30)
            fake_parent.kill()
            fake_parent.wait()
            wait_for("the watchdog closes the spider", lambda: "Closing spider (parent gone)"
                     in (out / "crawl.log").read_text(errors="replace"), timeout=15)
            site.release()
            assert crawler.wait(timeout=30) == 0
        finally:
            if crawler.poll() is None:
                os.killpg(crawler.pid, signal.SIGKILL)
                crawler.wait()
        served = {f"{site.base_url}{path}" for path in site.details}
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["finish_reason"] == "parent gone"
    after = stored(lane)
    assert report["items"] == report["ingest"]["inserted"] == after.count == len(served)
    assert 30 <= after.count < 120 and sorted(after.urls) == sorted(served)
    assert after.problems == []
    assert not work.exists()
