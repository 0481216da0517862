"""Workflow state: crawl runs and source health survive a restart."""
from datetime import datetime, timedelta, timezone

from monitor.state import StateDB

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
