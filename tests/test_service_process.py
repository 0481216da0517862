"""``monitor run`` as a real process: ``python -m monitor -c DIR run`` in a subprocess, a real
Scrapy crawl of a loopback site, the real webhook receiver (tests/receivers.py), then the state
database, the store and the inbox read afterwards.  Signals are real signals; ``kill -9`` is a
real SIGKILL.  Every wait polls with a deadline and says what it waited for; no assertion is on
a duration.  (tests/test_service.py covers the service in-process with an injected clock.)
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.engine import rule_hits
from alerts.tables import alert_deliveries, alert_notices, alerts
from conftest import board_source
from faults._killkit import _QuietServer, wait_for
from monitor import localsite
from monitor.app import Monitor
from monitor.config import SourceConfig, load_config
from monitor.handoff import COUNTS, inbox_dir
from monitor.lease import service_lease
from monitor.localsite import LETTER_BOARD_SELECTORS, write_letter_board
from monitor.state import StateDB, process_alive
from monitor.store import SearchQuery
from receivers import Receiver

ROOT = Path(__file__).resolve().parents[1]
LETTERS = 60  # letters on the slow board: a crawl of several hand-off files (one a second)
SLOW = 0.1  # s the slow board takes per response (it answers one request at a time)


# -- helpers ------------------------------------------------------------------------------------

def _board(base: str):
    """The fixture board (tests/conftest.py), crawled every 30 minutes."""
    return board_source(base, interval_minutes=30)


class _SlowHandler(localsite._Handler):
    def do_GET(self):  # noqa: N802 - stdlib name
        site: SlowSite = self.server.site
        if self.path.rsplit("/", 1)[-1][:1].isdigit():  # a letter, not the list
            site.hold()
        with site.one_at_a_time:  # however many requests the crawler sends at once
            time.sleep(site.delay)
            super().do_GET()


class SlowSite:
    """A letter board (monitor.localsite.write_letter_board) answering one request at a time,
    each after ``delay`` seconds (which may be changed while it runs).  With ``open_letters``
    the letters after the first ``open_letters`` wait until :meth:`release`: a crawl that
    cannot finish before the test has done what it does in the middle of it."""

    def __init__(self, root: Path, letters: int = LETTERS, delay: float = SLOW,
                 open_letters: int | None = None):
        write_letter_board(root, "slow", letters)
        self.delay, self.open_letters = delay, open_letters
        self.one_at_a_time = threading.Lock()
        self.gate = threading.Event()
        self._asked = 0
        self._count = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", 0), partial(_SlowHandler, directory=str(root)))
        self.server.site = self
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def hold(self) -> None:
        with self._count:
            self._asked += 1
            held = self.open_letters is not None and self._asked > self.open_letters
        if held:
            self.gate.wait(60)  # bounded: a test that fails must not hang its crawler

    def release(self) -> None:
        """Answer the held letters (and every later one)."""
        self.gate.set()

    def source(self) -> SourceConfig:
        return SourceConfig(id="slow", spider="news_list", channel="board",
                            url=f"{self.base}/slow/list.html", interval_minutes=30,
                            selectors=LETTER_BOARD_SELECTORS)

    def __enter__(self) -> "SlowSite":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


def _config(make_config, sources, rx: Receiver, rule: str, *, name: str = "config",
            **settings) -> Path:
    """A configuration directory: the sources, a webhook channel ``hook`` to ``rx`` and one
    match rule ``watch``; ``settings`` replace keys of the starter monitor.toml."""
    directory = make_config(sources, name=name)
    main = directory / "monitor.toml"
    text = main.read_text(encoding="utf-8")
    for key, value in settings.items():
        text, found = re.subn(rf"^{key} = \S+", f"{key} = {value}", text, count=1, flags=re.M)
        assert found, key
    main.write_text(text, encoding="utf-8")
    (directory / "channels.toml").write_text(
        f'[hook]\ntype = "webhook"\nurl = "{rx.url("webhook")}"\ntimeout = 2\n', encoding="utf-8")
    (directory / "rules").mkdir(exist_ok=True)
    (directory / "rules" / "watch.toml").write_text(
        f'type = "match"\nquery = "{rule}"\nchannels = ["hook"]\n', encoding="utf-8")
    return directory


def _env(tmp_path: Path) -> dict:
    env = dict(os.environ)
    env["TMPDIR"] = str(tmp_path / "tmp")  # the crawls' work directories, kept apart
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("MONITOR_CONFIG_DIR", None)
    return env


class Service:
    """``python -m monitor -c DIR run …`` as a process, its stderr in ``log``."""

    def __init__(self, config_dir: Path, tmp_path: Path, *args: str, name: str = "service"):
        self.log = tmp_path / f"{name}.log"
        self.out = tmp_path / f"{name}.out"
        with open(self.log, "wb") as err, open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "-c", str(config_dir), "run", *args],
                cwd=ROOT, env=_env(tmp_path), stdout=out, stderr=err,
                stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"monitor run did not exit within {timeout:g} s; its log:\n"
                                 + self.text()[-3000:]) from None

    def started(self, timeout: float = 30) -> None:
        wait_for("monitor run started", lambda: "monitor run started" in self.text()
                 or self.proc.poll() is not None, timeout)
        assert self.proc.poll() is None, self.text()[-3000:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def spawn(tmp_path):
    """``spawn(config_dir, *args, name=…)`` starts a Service; any still running at the end of
    the test is killed (a failed test must not leave a service working on a reused path)."""
    started: list[Service] = []

    def _spawn(config_dir: Path, *args: str, name: str = "service") -> Service:
        service = Service(config_dir, tmp_path, *args, name=name)
        started.append(service)
        return service

    yield _spawn
    for service in started:
        service.kill()


def _runs(config, source: str | None = None) -> list:
    state = StateDB(config.state_url)
    try:
        return state.runs(source)
    finally:
        state.close()


def _lease_rows(config) -> list:
    state = StateDB(config.state_url)
    try:
        with state.engine.connect() as c:
            return c.execute(select(service_lease)).all()
    finally:
        state.close()


def _stored(config) -> int:
    with Monitor(config) as m:
        return m.store.count(SearchQuery())


def _inbox(config, counts: bool = False) -> list[str]:
    """The files waiting in the inbox: hand-off files (and, with ``counts``, the counts the
    service publishes for a crawl it did not start, monitor.handoff.COUNTS)."""
    folder = inbox_dir(config.data_dir)
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    return names if counts else [n for n in names if not n.endswith(COUNTS)]


def _count(config) -> int:
    """Documents in the store, read with plain sqlite3 (cheap enough to poll)."""
    import sqlite3

    path = config.store.path
    if not Path(path).exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()


# -- the tests ----------------------------------------------------------------------------------

# -- one service on the fixture board: it crawls, stores, alerts; a second one refuses ------------

@pytest.fixture(scope="module")
def running(board_site, tmp_path_factory):
    """One ``monitor run`` on the fixture board, a ``学校`` match rule to a webhook receiver."""
    from monitor.starter import write_config

    tmp = tmp_path_factory.mktemp("running")
    with Receiver() as rx:
        def make(sources, name="config"):
            write_config(tmp / name, sources=sources, disabled=["sentiment_snownlp"])
            return tmp / name

        config = load_config(_config(make, [_board(board_site)], rx, "学校"))
        service = Service(config.config_dir, tmp)
        try:
            service.started()
            yield config, service, rx, tmp
        finally:
            code = service.stop()
        assert code == 0, service.text()[-3000:]


@pytest.mark.slow
def test_the_service_crawls_the_board_once_stores_it_and_alerts(running):
    config, service, rx, _ = running
    wait_for("the board's crawl recorded", lambda: [r for r in _runs(config, "board")
                                                      if r.status != "running"], 60)
    [run] = _runs(config, "board")  # one crawl: the next is 30 minutes away
    assert (run.status, run.inserted) == ("ok", 5), run.message
    assert _count(config) == 5
    hooks = wait_for("the match alert delivered", lambda: rx.accepted("webhook"), 30)
    assert len(hooks) == 1
    body = hooks[0].json
    assert body["kind"] == "firing" and body["rule"] == "watch", body
    assert not _inbox(config, counts=True)  # every hand-off file stored and removed
    assert service.proc.poll() is None
    assert "crawl of board: ok" in service.text()


@pytest.mark.slow
def test_a_second_service_refuses_naming_the_first_and_leaves_it_alone(running):
    config, first, rx, tmp = running
    [before] = _lease_rows(config)
    assert before.pid == first.pid
    second = Service(config.config_dir, tmp, name="second")
    assert second.wait(60) == 1
    errors = [line for line in second.text().splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, second.text()[-3000:]
    assert f"pid {first.pid} on host {socket.gethostname()}" in errors[0]
    assert "Traceback" not in second.text()
    # the first one runs on, still holding the lease, and was not told to stop
    assert first.proc.poll() is None
    [after] = _lease_rows(config)
    assert (after.pid, after.host, after.since) == (before.pid, before.host, before.since)
    assert "stopping" not in first.text()
    assert len(_runs(config, "board")) <= 1  # the second one started no crawl


# -- stopping ---------------------------------------------------------------------------------

def _running_run(config, source: str):
    """The source's crawl while it runs, once its crawler is recorded (else None)."""
    runs = [r for r in _runs(config, source) if r.status == "running" and r.crawler_pid]
    return runs[0] if runs else None


@pytest.mark.slow
def test_sigterm_stops_cleanly_recording_the_crawl_and_storing_its_handoff(make_config,
                                                                           tmp_path, spawn):
    with Receiver() as rx, SlowSite(tmp_path / "site", open_letters=20) as site:
        config = load_config(_config(make_config, [site.source()], rx, "积水"))
        service = spawn(config.config_dir)
        service.started()
        running = wait_for("the slow crawl running", lambda: _running_run(config, "slow"), 60)
        wait_for("a first hand-off file stored", lambda: _count(config) > 0, 60)
        assert service.proc.poll() is None
        service.proc.send_signal(signal.SIGTERM)
        site.release()  # the letters in flight are answered; the crawler stops after them
        code = service.wait(90)
        log = service.text()
    assert code == 0, log[-3000:]
    assert "stopping: SIGTERM" in log and "monitor run stopped" in log
    assert "Traceback" not in log, log[-3000:]
    assert _lease_rows(config) == []  # given up
    [run] = _runs(config, "slow")
    assert run.id == running.id
    assert run.status == "failed" and "interrupted (SIGTERM)" in run.message, run.message
    assert not process_alive(run.crawler_pid, run.crawler_start)  # the crawler was stopped
    # what the stopped crawler handed off is stored, and nothing waits in the inbox
    handed = (run.report or {}).get("handed_off")
    stored = _count(config)
    assert _inbox(config, counts=True) == []
    assert handed is not None and 0 < stored == handed < LETTERS, (stored, run.report)


# -- kill -9 and a restart ----------------------------------------------------------------------

def _state(config, *tables) -> list[list]:
    """Every row of each table, read from the state database."""
    state = StateDB(config.state_url)
    try:
        with state.engine.connect() as c:
            return [c.execute(select(t)).all() for t in tables]
    finally:
        state.close()


def _sent(config) -> list[str]:
    """Alert ids whose deliveries are all marked sent (none pending, sending or dead)."""
    deliveries, notices = _state(config, alert_deliveries, alert_notices)
    alert_of = {n.notice_id: n.alert_id for n in notices}
    states: dict[str, set] = {}
    for row in deliveries:
        states.setdefault(alert_of[row.notice_id], set()).add(row.state)
    return [a for a, s in states.items() if s == {"sent"}]


@pytest.mark.slow
def test_kill_9_mid_crawl_then_a_restart_loses_nothing_and_tells_nothing_twice(make_config,
                                                                               tmp_path, spawn):
    host = socket.gethostname()
    with Receiver() as rx, SlowSite(tmp_path / "site", open_letters=20) as site:
        config = load_config(_config(make_config, [site.source()], rx, "积水"))
        first = spawn(config.config_dir, name="first")
        first.started()
        killed = wait_for("the slow crawl running", lambda: _running_run(config, "slow"), 60)
        # the first documents stored, their alert told and marked sent: then the kill
        told = wait_for("the alert delivered and marked sent", lambda: _sent(config), 60)
        assert len(rx.accepted("webhook")) == 1
        assert 0 < _count(config) < LETTERS
        assert _running_run(config, "slow") is not None  # still crawling
        first.kill()  # SIGKILL: no handler runs, the lease row and the running run stay behind
        site.release()  # the orphaned crawler gets its letters in flight, then stops itself
        assert first.proc.returncode == -signal.SIGKILL
        [lease] = _lease_rows(config)
        assert lease.pid == first.pid
        # no back-dating: an interrupted crawl makes its source due again at the restart
        site.delay = 0.01
        second = spawn(config.config_dir, name="second")
        second.started()
        log = second.text()
        assert f"took over from monitor run pid {first.pid} on {host}" in log, log[-3000:]
        assert _lease_rows(config)[0].pid == second.pid
        done = wait_for("the restart's crawl recorded", lambda: [
            r for r in _runs(config, "slow") if r.id > killed.id and r.status != "running"], 90)
        wait_for("nothing left to deliver", lambda: not [
            d for d in _state(config, alert_deliveries)[0] if d.state != "sent"], 30)
        assert second.stop() == 0, second.text()[-3000:]
        accepted = rx.accepted("webhook")
    # the killed crawl's run is closed as interrupted (by the restart: its owner is gone)
    [old] = [r for r in _runs(config, "slow") if r.id == killed.id]
    assert old.status == "failed" and "interrupted" in old.message, old.message
    assert f"pid {first.pid}" in old.message
    # the next crawl stored every letter, each once
    [new] = done
    assert new.status == "ok", new.message
    ingest = new.report["ingest"]
    assert ingest["inserted"] + ingest["updated"] + ingest["unchanged"] == LETTERS, ingest
    assert _count(config) == LETTERS
    with Monitor(config) as m:
        assert m.store.count(SearchQuery()) == LETTERS
    assert _inbox(config) == []
    # the killed crawl's late files were stored with nobody waiting for their counts
    assert _inbox(config, counts=True) == []
    assert not list((tmp_path / "tmp").glob("monitor-crawl-*"))  # the orphan's workdir removed
    # every letter fired the rule once, into one alert, told once
    hits, [alert] = _state(config, rule_hits, alerts)
    assert len(hits) == len({h.document_id for h in hits}) == LETTERS
    assert alert.id in told and alert.message["count"] == LETTERS, alert.message.get("count")
    ids = [r.json["alert_id"] for r in accepted]
    notices = [r.json["notice_id"] for r in accepted]
    assert ids == [alert.id], ids  # the notice delivered before the kill is not repeated
    assert len(set(notices)) == len(notices)


# -- --once -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_once_does_one_round_prints_it_and_exits(board_site, make_config, tmp_path, spawn):
    with Receiver() as rx:
        config = load_config(_config(make_config, [_board(board_site)], rx, "学校"))
        once = spawn(config.config_dir, "--once", name="once")
        assert once.wait(120) == 0, once.text()[-3000:]
        out = once.stdout()
        # the crawl table, then the round's line with the outbox counts
        [row] = [line for line in out.splitlines() if line.split()[:2] == ["board", "ok"]]
        assert "5 new" in row, out
        assert "outbox: sent 1" in out.splitlines()[-1], out
        assert len(rx.accepted("webhook")) == 1  # delivered before it exited
        assert _count(config) == 5 and _lease_rows(config) == []
        # again, as JSON: nothing is due (the board's next crawl is 30 minutes away)
        again = spawn(config.config_dir, "--once", "--json", name="json")
        assert again.wait(120) == 0, again.text()[-3000:]
        data = json.loads(again.stdout())
        assert data["crawls"] == [] and data["outbox"] == {"sent": 1}, data
        assert len(rx.accepted("webhook")) == 1
