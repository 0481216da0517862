"""The audit trail on a real SQLite state database: rows appended through ``record``, then
tampered with through raw SQL the way someone holding the file would, and ``verify`` must
name the row; two real processes append at once; the ``monitor audit`` commands."""
from __future__ import annotations

import csv
import json
import sqlite3
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from clocks import run_together
from monitor import audit
from monitor.cli import cli
from monitor.config import load_config
from monitor.state import StateDB

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 in Asia/Shanghai


def db_path(engine) -> Path:
    return Path(engine.url.database)


@pytest.fixture
def engine(tmp_path):
    eng = StateDB(f"sqlite:///{tmp_path / 'state.db'}").engine
    audit.ensure(eng)
    yield eng
    eng.dispose()


def append(engine, n: int, start: int = 0, **kw) -> list[int]:
    """``n`` rows, one transaction each, one minute apart from T0 + ``start`` minutes."""
    ids = []
    for i in range(start, start + n):
        with engine.begin() as conn:
            ids.append(audit.record(conn, actor=kw.get("actor", "王科长"),
                                    action="incident.set_level", target=f"incident:{i}",
                                    before={"level": "较大"}, after={"level": "重大"},
                                    reason=f"第{i}次", at=T0 + timedelta(minutes=i)))
    return ids


def tamper(engine, *statements, params=()):
    """Run SQL on the file directly, past the append-only triggers (as an attacker could)."""
    with sqlite3.connect(db_path(engine)) as con:
        con.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        con.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        for sql in statements:
            con.execute(sql, params)


def kinds(problems) -> list[tuple[int | None, str]]:
    return [(p.row_id, p.kind) for p in problems]


def test_append_chains_rows_and_verifies(engine):
    at = datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    with engine.begin() as conn:
        first = audit.record(conn, actor="王科长", action="incident.open", target="incident:1",
                             after={"level": "重大", "when": datetime(2026, 12, 1, 9, 0)}, at=at)
        second = audit.record(conn, actor="李主任", action="incident.set_category",
                              target="incident:1", before={"category": None},
                              after={"category": "虚假不实"}, at=at + timedelta(seconds=1))
    assert (first, second) == (1, 2)
    rows = list(audit.entries(engine))
    assert [r.id for r in rows] == [1, 2]
    assert rows[0].at == datetime(2026, 12, 1, 2, 0, 0, 123456, tzinfo=timezone.utc)
    assert rows[0].after == {"level": "重大", "when": "2026-12-01 09:00:00"}
    assert rows[0].before is None and rows[0].refused is False
    assert rows[0].prev_hash == audit.GENESIS and rows[1].prev_hash == rows[0].hash
    assert rows[1].hash == audit.row_hash(
        rows[0].hash, id=2, at=rows[1].at, actor="李主任", action="incident.set_category",
        target="incident:1", before={"category": None}, after={"category": "虚假不实"},
        refused=False, reason="")
    assert audit.head(engine) == (2, 2, rows[1].hash)
    assert audit.verify(engine) == []


def test_empty_trail_verifies(engine):
    assert audit.verify(engine) == [] and audit.head(engine) is None


def test_record_rolls_back_with_the_callers_transaction(engine):
    append(engine, 2)
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            audit.record(conn, actor="王科长", action="incident.close", target="incident:9")
            raise RuntimeError("the action failed")
    assert [e.id for e in audit.entries(engine)] == [1, 2]
    assert append(engine, 1, start=2) == [3]
    assert audit.verify(engine) == []


def test_record_needs_actor_and_action(engine):
    with engine.begin() as conn:
        with pytest.raises(ValueError):
            audit.record(conn, actor="", action="incident.open", target="incident:1")


def test_refused_attempt_recorded(engine):
    with engine.begin() as conn:
        audit.record(conn, actor="赵干事", action="incident.release", target="incident:3",
                     after={"at": "2026-12-02T10:00:00+08:00"}, refused=True,
                     reason="release time in the future", at=T0)
    (entry,) = audit.entries(engine, refused=True)
    assert (entry.actor, entry.refused, entry.reason) == ("赵干事", True,
                                                          "release time in the future")
    assert list(audit.entries(engine, refused=False)) == []
    assert audit.verify(engine) == []


def test_the_table_refuses_update_and_delete(engine):
    append(engine, 2)
    with sqlite3.connect(db_path(engine)) as con:
        for sql in ("UPDATE audit_log SET actor = 'x' WHERE id = 1",
                    "DELETE FROM audit_log WHERE id = 2"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                con.execute(sql)
    assert audit.verify(engine) == []


def test_edited_field_is_named(engine):
    append(engine, 5)
    tamper(engine, "UPDATE audit_log SET after = '{\"level\": \"一般\"}' WHERE id = 3")
    assert kinds(audit.verify(engine)) == [(3, "edited")]


def test_edited_time_is_named(engine):
    append(engine, 5)
    tamper(engine, "UPDATE audit_log SET at = '2026-12-01 01:00:00.000000' WHERE id = 2")
    assert kinds(audit.verify(engine)) == [(2, "edited")]


def test_edited_and_rehashed_row_breaks_the_next_link(engine):
    append(engine, 5)
    row = next(e for e in audit.entries(engine) if e.id == 2)
    forged = audit.row_hash(row.prev_hash, id=2, at=row.at, actor="别人", action=row.action,
                            target=row.target, before=row.before, after=row.after,
                            refused=row.refused, reason=row.reason)
    tamper(engine, "UPDATE audit_log SET actor = '别人', hash = ? WHERE id = 2",
           params=(forged,))
    assert kinds(audit.verify(engine)) == [(3, "out-of-order")]


def test_deleted_middle_row_is_named(engine):
    append(engine, 5)
    tamper(engine, "DELETE FROM audit_log WHERE id = 3")
    problems = audit.verify(engine)
    assert kinds(problems) == [(4, "deleted")]
    assert "row 3 is missing" in problems[0].message


def test_deleted_last_row_is_caught_by_the_head(engine):
    append(engine, 5)
    tamper(engine, "DELETE FROM audit_log WHERE id >= 4")
    problems = audit.verify(engine)
    assert kinds(problems) == [(5, "deleted")]
    assert "rows 4–5 are missing at the end" in problems[0].message


def test_deleted_first_row_is_named(engine):
    append(engine, 3)
    tamper(engine, "DELETE FROM audit_log WHERE id = 1")
    assert kinds(audit.verify(engine)) == [(2, "deleted")]


def test_replaced_last_row_is_caught_by_the_head(engine):
    append(engine, 3)
    row = list(audit.entries(engine))[-1]
    forged = audit.row_hash(row.prev_hash, id=3, at=row.at, actor=row.actor, action=row.action,
                            target="incident:99", before=row.before, after=row.after,
                            refused=row.refused, reason=row.reason)
    tamper(engine, "UPDATE audit_log SET target = 'incident:99', hash = ? WHERE id = 3",
           params=(forged,))
    assert kinds(audit.verify(engine)) == [(3, "edited")]


def test_row_inserted_outside_record_is_named(engine):
    append(engine, 3)
    last = list(audit.entries(engine))[-1]
    good = audit.row_hash(last.hash, id=4, at=T0, actor="x", action="y", target="z",
                          before=None, after=None, refused=False, reason="")
    tamper(engine, "INSERT INTO audit_log (id, at, actor, action, target, refused, reason, "
           "prev_hash, hash) VALUES (4, '2026-12-01 02:00:00.000000', 'x', 'y', 'z', 0, '', "
           f"'{last.hash}', '{good}')")
    assert kinds(audit.verify(engine)) == [(4, "out-of-order")]


def test_row_slipped_into_the_middle_is_named(engine):
    append(engine, 4)
    tamper(engine, "DELETE FROM audit_log WHERE id = 2",
           "INSERT INTO audit_log (id, at, actor, action, target, refused, reason, prev_hash, "
           "hash) VALUES (2, '2026-12-01 02:00:00.000000', 'x', 'y', 'z', 0, '', "
           f"'{audit.GENESIS}', '{'f' * 64}')")
    assert kinds(audit.verify(engine)) == [(2, "edited"), (2, "out-of-order"),
                                           (3, "out-of-order")]


def test_missing_head_is_reported(engine):
    append(engine, 2)
    tamper(engine, "DELETE FROM audit_head")
    assert kinds(audit.verify(engine)) == [(None, "head")]


def test_a_whole_rewrite_passes_unless_a_kept_head_hash_is_checked(engine):
    append(engine, 5)
    kept = audit.head(engine)[2]
    rows = list(audit.entries(engine))
    # Someone with the file drops rows 4–5 and rewrites the head to match: the chain is
    # consistent again, and only a head hash kept elsewhere shows it.
    tamper(engine, "DELETE FROM audit_log WHERE id >= 4",
           f"UPDATE audit_head SET rows = 3, last_id = 3, hash = '{rows[2].hash}'")
    assert audit.verify(engine) == []
    problems = audit.verify(engine, known=[kept])
    assert kinds(problems) == [(None, "rewritten")] and kept in problems[0].message
    assert audit.verify(engine, known=[rows[1].hash.upper()]) == []


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from sqlalchemy import select
    from monitor import audit
    from monitor.state import StateDB
    url, name, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    engine = StateDB(url).engine
    while not go.exists():
        time.sleep(0.01)
    for i in range(n):
        with engine.begin() as conn:
            conn.execute(select(audit.audit_head)).all()  # a read before the write, as callers do
            audit.record(conn, actor=name, action="test.append", target=f"{name}:{i}")
        if i % 2 == 0:  # a caller that holds the lock from the start
            with audit.transaction(engine) as conn:
                audit.record(conn, actor=name, action="test.append", target=f"{name}:{i}b")
    print("done")
""")


def test_two_processes_append_concurrently(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = StateDB(url).engine
    audit.ensure(engine)
    run_together(CHILD, url, ("甲", "乙"), 60, tmp_path / "go")
    rows = list(audit.entries(engine))
    assert [r.id for r in rows] == list(range(1, 181))
    for name in ("甲", "乙"):
        mine = [r.target for r in rows if r.actor == name]
        assert len(mine) == 90 and len(set(mine)) == 90
    assert audit.verify(engine) == []
    assert audit.head(engine)[:2] == (180, 180)
    engine.dispose()


# --- the command line --------------------------------------------------------------------------

@pytest.fixture
def world(make_config):
    directory = make_config()
    engine = StateDB(load_config(directory).state_url).engine
    audit.ensure(engine)

    def run(*args):
        return CliRunner().invoke(cli, ["-c", str(directory), "audit", *args])

    yield engine, run, directory
    engine.dispose()


def seed(engine):
    with engine.begin() as conn:
        audit.record(conn, actor="王科长", action="incident.open", target="incident:1",
                     after={"level": "重大"}, at=T0)
        audit.record(conn, actor="李主任", action="incident.set_level", target="incident:1",
                     before={"level": "重大"}, after={"level": "特别重大"},
                     reason="涉及学生安全", at=T0 + timedelta(hours=1))
        audit.record(conn, actor="王科长", action="incident.release", target="incident:1",
                     after={"at": "2026-12-02T12:00:00+08:00"}, refused=True,
                     reason="release time in the future", at=T0 + timedelta(days=1))


def test_cli_verify_ok_and_tampered(world):
    engine, run, _ = world
    result = run("verify")
    assert result.exit_code == 0 and result.output.startswith("ok: 0 rows, chain intact")
    seed(engine)
    result = run("verify")
    assert result.exit_code == 0, result.output
    head = audit.head(engine)[2]
    assert result.output.splitlines() == ["ok: 3 rows, chain intact",
                                          f"head: row 3, sha256 {head}"]
    assert run("verify", "--head", head).exit_code == 0
    tamper(engine, "UPDATE audit_log SET reason = '' WHERE id = 2")
    result = run("verify")
    assert result.exit_code == 1
    assert "row 2: edited" in result.output and "Traceback" not in result.output
    data = json.loads(run("verify", "--json").output)
    assert data["ok"] is False and [p["row_id"] for p in data["problems"]] == [2]


def test_cli_verify_names_a_deleted_last_row(world):
    engine, run, _ = world
    seed(engine)
    tamper(engine, "DELETE FROM audit_log WHERE id = 3")
    result = run("verify")
    assert result.exit_code == 1 and "row 3: deleted" in result.output


def test_cli_export_jsonl_can_be_reverified(world):
    engine, run, _ = world
    seed(engine)
    result = run("export")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [d["id"] for d in lines] == [1, 2, 3]
    assert lines[0]["at"] == "2026-12-01T02:00:00.000000Z"
    assert lines[0]["at_local"] == "2026-12-01 10:00"
    prev = audit.GENESIS
    for d in lines:  # the export alone is enough to check the chain
        assert d["prev_hash"] == prev
        fields = {k: d[k] for k in ("id", "actor", "action", "target", "before", "after",
                                    "refused", "reason")}
        at = datetime.fromisoformat(d["at"].replace("Z", "+00:00"))
        assert audit.row_hash(prev, at=at, **fields) == d["hash"]
        prev = d["hash"]


def test_cli_export_csv_to_file_with_a_time_range(world, tmp_path):
    engine, run, _ = world
    seed(engine)
    out = tmp_path / "audit.csv"
    result = run("export", "--format", "csv", "-o", str(out),
                 "--since", "2026-12-01T10:30", "--until", "2026-12-02")
    assert result.exit_code == 0, result.output
    assert "wrote 1 rows" in result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    (row,) = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert (row["id"], row["actor"], row["at_local"]) == ("2", "李主任", "2026-12-01 11:00")
    assert json.loads(row["after"]) == {"level": "特别重大"} and row["refused"] == "no"


def test_cli_export_rejects_bad_times(world):
    _, run, _ = world
    result = run("export", "--since", "yesterday-ish")
    assert result.exit_code == 2 and "not a usable time" in result.output
    result = run("export", "--since", "2026-12-02", "--until", "2026-12-01")
    assert result.exit_code == 2 and "--until must be after --since" in result.output


def test_cli_list_filters_and_shows_local_times(world):
    engine, run, _ = world
    result = run("list")
    assert result.exit_code == 0 and "no audit rows yet" in result.output
    seed(engine)
    result = run("list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[2].split()[:4] == ["3", "2026-12-02", "10:00", "王科长"]
    assert "refused" in lines[2] and "reason: release time in the future" in result.output
    assert "level: 重大 → 特别重大" in result.output
    result = run("list", "--actor", "王科长", "--action", "incident.open")
    assert [line.split()[0] for line in result.output.splitlines()[2:]] == ["1"]
    data = json.loads(run("list", "--limit", "2", "--json").output)
    assert [d["id"] for d in data] == [3, 2]
    assert [d["id"] for d in json.loads(run("list", "--refused", "--json").output)] == [3]
    assert "no audit rows match" in run("list", "--actor", "nobody").output


def test_head_count_changed_alone_is_reported(engine):
    append(engine, 3)
    tamper(engine, "UPDATE audit_head SET rows = 7")
    problems = audit.verify(engine)
    assert kinds(problems) == [(None, "head")] and "7 rows; 3 exist" in problems[0].message
