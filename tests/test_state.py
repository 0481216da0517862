"""Workflow state: crawl runs and source health survive a restart; a database of the previous
version is migrated; runs left "running" by a dead process are closed on the next open."""
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from monitor import state as state_module
from monitor.state import StateDB, crawl_runs, process_alive, process_token

T0 = datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc)


def test_runs_and_health(tmp_path):
    url = f"sqlite:///{tmp_path / 'sub' / 'state.db'}"
    db = StateDB(url)
    first = db.start_run("a", now=T0)
    db.finish_run(first, status="ok", now=T0, report={
        "items": 5, "ingest": {"inserted": 5, "newest_published_at": "2026-11-27T23:00:00+00:00"}})
    for i in range(3):
        run = db.start_run("a", now=T0 + timedelta(hours=i + 1))
        db.finish_run(run, status="empty", report={"items": 0}, now=T0 + timedelta(hours=i + 1))
    db.close()

    again = StateDB(url)  # a restart reads the same history
    health = again.health("a")
    assert health.runs == 4
    assert health.consecutive_empty == 3 and health.consecutive_failed == 0
    assert health.last_success == T0
    assert again.runs("a", limit=10)[-1].inserted == 5
    assert health.runs_without_new == 3
    assert health.newest_published_at == datetime(2026, 11, 27, 23, tzinfo=timezone.utc)
    assert health.last_new_at == T0
    older = again.start_run("a", now=T0 + timedelta(hours=5))  # the cursor never goes back
    again.finish_run(older, status="ok", now=T0 + timedelta(hours=5), report={
        "items": 1, "ingest": {"unchanged": 1, "newest_published_at": "2020-01-01T00:00:00+00:00"}})
    assert again.health("a").newest_published_at == health.newest_published_at
    assert again.health("a").runs_without_new == 4
    failed = again.start_run("b", now=T0)
    again.finish_run(failed, status="failed", message="unreachable", now=T0)
    assert again.health("b").consecutive_failed == 1
    assert again.health("never").last_run is None


def test_two_processes_opening_a_new_database_at_once(tmp_path):
    import threading

    url = f"sqlite:///{tmp_path / 'race.db'}"
    errors = []

    def open_it():
        try:
            StateDB(url).close()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# -- runs left "running" by a process that is gone --------------------------------------------

OLD_SCHEMA = """
CREATE TABLE crawl_runs (
    id INTEGER NOT NULL, source VARCHAR(64) NOT NULL, started_at DATETIME NOT NULL,
    finished_at DATETIME, status VARCHAR(16) NOT NULL, items INTEGER, inserted INTEGER,
    updated INTEGER, unchanged INTEGER, skipped INTEGER, errors INTEGER, message TEXT,
    report JSON, PRIMARY KEY (id));
CREATE INDEX ix_crawl_runs_source ON crawl_runs (source);
CREATE TABLE source_cursors (
    source VARCHAR(64) NOT NULL, newest_published_at DATETIME, last_new_at DATETIME,
    updated_at DATETIME NOT NULL, PRIMARY KEY (source));
"""  # what the previous version of monitor/state.py created


def _sql_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def test_a_database_of_the_previous_version_is_migrated_in_place(tmp_path):
    path = tmp_path / "state.db"
    now = datetime.now(timezone.utc)
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        db.executemany(
            "INSERT INTO crawl_runs (id, source, started_at, finished_at, status, items, "
            "inserted, updated, unchanged, skipped, errors, message, report) "
            "VALUES (?, 'a', ?, ?, ?, ?, ?, 0, 0, 0, 0, ?, '{}')",
            [(1, _sql_time(T0), _sql_time(T0), "ok", 5, 5, "5 items"),
             (2, _sql_time(now - timedelta(days=2)), None, "running", 0, 0, ""),  # stuck
             (3, _sql_time(now - timedelta(minutes=5)), None, "running", 0, 0, "")])
    state = StateDB(f"sqlite:///{path}")
    try:
        with sqlite3.connect(path) as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(crawl_runs)")}
        assert {"host", "owner_pid", "owner_start", "crawler_pid", "crawler_start", "workdir",
                "timeout_seconds"} <= columns
        runs = {r.id: r for r in state.runs("a")}
        assert runs[1].status == "ok" and runs[1].inserted == 5 and runs[1].owner_pid is None
        # a run of the old version is closed only once it is older than any plausible timeout
        assert runs[2].status == "failed" and runs[2].finished_at is not None
        assert runs[2].message == ("interrupted: a monitor process of an older version (not "
                                   "recorded) that ran it did not finish it within 22200 s")
        assert runs[3].status == "running"
        new = state.start_run("a")
        (latest, *_) = state.runs("a")
        assert latest.id == new and latest.owner_pid == os.getpid()
        assert latest.host == socket.gethostname() and latest.status == "running"
    finally:
        state.close()
    StateDB(f"sqlite:///{path}").close()  # opening a migrated database again changes nothing


def test_a_run_whose_owner_died_is_closed_and_its_crawler_stopped(tmp_path, monkeypatch):
    """A real owner process starts a run, records a crawler (a process in a session of its
    own) and dies without finishing it: the next open closes the run and stops the crawler."""
    monkeypatch.setattr(state_module, "ORPHAN_GRACE", 0.2)  # `sleep` does not stop by itself
    url = f"sqlite:///{tmp_path / 'state.db'}"
    StateDB(url).close()
    crawler = subprocess.Popen(["sleep", "60"], start_new_session=True)
    workdir = tmp_path / "monitor-crawl-x-1"
    workdir.mkdir()
    try:
        owner = subprocess.run(
            [sys.executable, "-c",
             "import os, sys; from monitor.state import StateDB; db = StateDB(sys.argv[1]); "
             "run = db.start_run('x', timeout=600); "
             "db.set_crawler(run, int(sys.argv[2]), sys.argv[3]); os._exit(0)",
             url, str(crawler.pid), str(workdir)], capture_output=True, text=True, timeout=60)
        assert owner.returncode == 0, owner.stderr
        state = StateDB(url)
        try:
            (run,) = state.runs("x")
            assert run.status == "failed"
            assert run.message == (f"interrupted: the monitor process (pid {run.owner_pid}) "
                                   "that ran it is gone")
            assert run.crawler_pid == crawler.pid and run.timeout_seconds == 600
            assert run.finished_at is not None
            assert crawler.wait(timeout=10) == -signal.SIGTERM  # stopped (it is ours)
            assert not workdir.exists()
            assert state.close_stale_runs() == []  # nothing left to close
        finally:
            state.close()
    finally:
        if crawler.poll() is None:
            crawler.kill()
            crawler.wait()


def test_owner_alive_reused_pid_and_another_host(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    state = StateDB(url)
    try:
        mine = state.start_run("alive")
        reused = state.start_run("reused")
        far_old = state.start_run("far-old", now=T0 - timedelta(hours=2), timeout=600)
        far_new = state.start_run("far-new", now=T0 - timedelta(minutes=5), timeout=600)
        with state.engine.begin() as conn:
            # the pid is ours (alive) but the process it named started at another time
            conn.execute(update(crawl_runs).where(crawl_runs.c.id == reused).values(
                owner_start="another-boot:1"))
            conn.execute(update(crawl_runs).where(crawl_runs.c.id.in_([far_old, far_new]))
                         .values(host="elsewhere", owner_pid=4242))
        closed = state.close_stale_runs(now=T0)
        assert sorted(closed) == sorted([reused, far_old])
        runs = {r.source: r for r in state.runs()}
        assert runs["alive"].status == "running" and runs["far-new"].status == "running"
        assert runs["reused"].message == (f"interrupted: the monitor process (pid "
                                          f"{os.getpid()}) that ran it is gone")
        assert runs["far-old"].message == ("interrupted: the monitor process (pid 4242 on host "
                                           "elsewhere) that ran it did not finish it within "
                                           "1200 s")
        state.finish_run(mine, status="ok")
        assert state.runs("alive")[0].status == "ok"
    finally:
        state.close()


def test_process_identity():
    me = os.getpid()
    assert process_alive(me) and process_alive(me, process_token(me))
    assert process_token(me) == process_token(me) and process_token(me)
    assert not process_alive(me, "another-boot:1")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    assert child.wait(timeout=30) == 0
    assert not process_alive(child.pid) and process_token(child.pid) is None
    assert not process_alive(None) and not process_alive(0)
