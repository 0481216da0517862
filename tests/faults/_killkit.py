"""Helpers for the kill tests: the demo site on a slow (or gated) loopback server, ``monitor
crawl`` as a process of its own, and what the store and the state database hold afterwards.

A *lane* is one configuration directory (the demo's 县长信箱 source, its own store and state
database, its own TMPDIR for the crawls' work directories); two lanes run side by side on two
cores.  Nothing here sleeps to assert: every wait polls with a deadline and says what it waited
for.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

from monitor import localsite
from monitor.app import Monitor
from monitor.config import load_config
from monitor.demo.site import content_types
from monitor.demo.sources import demo_sources
from monitor.starter import write_config
from monitor.state import StateDB, process_alive
from monitor.store import SearchQuery

SOURCE = "county-mailbox"  # 120 letters on 8 list pages: more than one ingest batch (100)
DETAIL = "/mailbox/detail/"
# `monitor` as a shell would start it: SIGTERM and SIGHUP at their default action (the test
# runner may ignore SIGHUP, e.g. under nohup, and a child inherits that).
CLI = ("import signal; [signal.signal(s, signal.SIG_DFL) for s in (signal.SIGTERM, "
       "signal.SIGHUP)]; from monitor.cli import cli; cli(prog_name='monitor')")


def wait_for(what: str, check: Callable[[], object], timeout: float, step: float = 0.05):
    """Poll ``check`` until it returns something true; raise AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(step)


# -- the site --------------------------------------------------------------------------------

class _QuietServer(localsite._Server):
    def handle_error(self, request, client_address):  # a killed crawler resets connections
        pass


class _SlowHandler(localsite._Handler):
    def do_GET(self):  # noqa: N802 - stdlib name
        site: DemoServer = self.server.site
        detail = DETAIL in self.path
        if detail:
            site.hold(self.path)
        time.sleep(site.delay)
        super().do_GET()
        if detail:
            site.served(self.path)


class DemoServer:
    """The demo site served with ``delay`` seconds per response.  With ``open_details`` set,
    detail pages after the first ``open_details`` are held until :meth:`release`."""

    def __init__(self, root: Path, delay: float = 0.0, open_details: int | None = None):
        self.root, self.delay, self.open_details = Path(root), delay, open_details
        self.gate = threading.Event()
        self._lock = threading.Lock()
        self._asked = 0
        self.details: set[str] = set()  # detail pages answered in full
        self.base_url = ""

    def hold(self, path: str) -> None:
        with self._lock:
            self._asked += 1
            held = self.open_details is not None and self._asked > self.open_details
        if held:
            self.gate.wait(60)

    def served(self, path: str) -> None:
        with self._lock:
            self.details.add(path.partition("?")[0])

    def release(self) -> None:
        """Answer the held requests, and every later one at once."""
        self.gate.set()

    def reset(self) -> None:
        """Forget what was served; hold again after ``open_details`` pages."""
        with self._lock:
            self._asked, self.details = 0, set()
        self.gate.clear()


@contextmanager
def serve(root: Path, delay: float = 0.0, open_details: int | None = None
          ) -> Iterator[DemoServer]:
    """Serve the demo site in ``root`` on 127.0.0.1 (see :class:`DemoServer`)."""
    site = DemoServer(root, delay, open_details)
    handler = type("Handler", (_SlowHandler,), {"charset": "utf-8",
                                                "overrides": content_types(root)})
    server = _QuietServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    server.site = site
    thread = threading.Thread(target=server.serve_forever, name="killsite", daemon=True)
    thread.start()
    site.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield site
    finally:
        site.release()
        server.shutdown()
        server.server_close()


def letter_urls(root: Path, base_url: str) -> set[str]:
    """The URLs of every letter the site serves (what a complete crawl must store)."""
    return {f"{base_url}{DETAIL}{p.name}" for p in (root / "mailbox" / "detail").glob("*.html")}


# -- lanes -----------------------------------------------------------------------------------

@dataclass
class Lane:
    """One configuration directory with the mailbox source, its store, state and TMPDIR."""

    root: Path
    base_url: str

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def tmpdir(self) -> Path:
        return self.root / "tmp"

    @property
    def state_db(self) -> Path:
        return self.config_dir / "data" / "state.db"

    @property
    def state_url(self) -> str:
        return f"sqlite:///{self.state_db}"

    def config(self):
        return load_config(self.config_dir)

    def reset_store(self) -> None:
        """Remove the document store (no process may have it open)."""
        for path in (self.config_dir / "data").glob("documents.db*"):
            path.unlink()


def make_lane(root: Path, base_url: str) -> Lane:
    """A lane under ``root`` crawling the site at ``base_url`` (analysis plugins off: the
    kills are about storing, and the suite must stay fast)."""
    (source,) = [s for s in demo_sources(base_url) if s.id == SOURCE]
    lane = Lane(root, base_url)
    write_config(lane.config_dir, sources=[source],
                 disabled=["sentiment_snownlp", "topics", "risk"])
    lane.tmpdir.mkdir(parents=True, exist_ok=True)
    return lane


def start_monitor(lane: Lane, log_name: str) -> subprocess.Popen:
    """``monitor -c CONFIG crawl county-mailbox`` as a process of its own (output in files)."""
    env = dict(os.environ, TMPDIR=str(lane.tmpdir))
    out = open(lane.root / f"{log_name}.log", "wb")
    try:
        return subprocess.Popen([sys.executable, "-c", CLI, "-c", str(lane.config_dir),
                                 "crawl", SOURCE], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        out.close()


def running_crawler(lane: Lane, owner: subprocess.Popen, timeout: float = 30) -> int | None:
    """The crawler pid recorded for ``owner``'s running run (None when ``owner`` ended first)."""

    def look():
        if owner.poll() is not None:
            return "ended"
        try:
            with sqlite3.connect(f"file:{lane.state_db}?mode=ro", uri=True, timeout=5) as db:
                row = db.execute("SELECT crawler_pid FROM crawl_runs WHERE status = 'running' "
                                 "AND owner_pid = ?", (owner.pid,)).fetchone()
        except sqlite3.Error:  # not created yet, or locked for a moment
            return None
        return row[0] if row and row[0] else None

    found = wait_for(f"a crawler recorded for pid {owner.pid}", look, timeout, step=0.02)
    return None if found == "ended" else found


def gone(pid: int) -> bool:
    """True once ``pid`` has ended (a zombie waiting for a slow init counts as ended)."""
    return not process_alive(pid)


def runs(lane: Lane):
    """The lane's crawl runs, newest first (opening the state database closes stale runs)."""
    state = StateDB(lane.state_url)
    try:
        return state.runs(limit=1000)
    finally:
        state.close()


@dataclass
class Stored:
    """What the store holds for the mailbox source."""

    count: int
    ids: list[str]
    urls: list[str]
    problems: list[str]


def stored(lane: Lane) -> Stored:
    """Count, ids, URLs and integrity problems of the lane's store."""
    with Monitor(lane.config()) as monitor:
        store = monitor.store
        hits = store.search(SearchQuery(sources=[SOURCE], sort="newest", limit=10_000)).hits
        return Stored(store.count(SearchQuery(sources=[SOURCE])),
                      [h.document.id for h in hits], [h.document.url for h in hits],
                      store.check_integrity())


def work_dirs(lane: Lane) -> list[Path]:
    """Crawl work directories left in the lane's TMPDIR."""
    return sorted(lane.tmpdir.glob("monitor-crawl-*"))
