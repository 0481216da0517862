"""``monitor rules list|check|test`` on a real configuration directory and store."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from monitor.app import Monitor
from monitor.cli import cli
from monitor.testing import make_document


@pytest.fixture
def run(config_dir):
    def _run(*args):
        return CliRunner().invoke(cli, ["-c", str(config_dir), "rules", *args])
    return _run


def write(config_dir, name, text):
    (config_dir / "rules").mkdir(exist_ok=True)
    (config_dir / "rules" / f"{name}.toml").write_text(text, encoding="utf-8")


BURST = ('name = "围墙集中"\ntype = "frequency"\nwindow_minutes = 60\nmin_count = 2\n'
         'query = "围墙"\nchannels = ["log"]\nseverity = "critical"\n')


def test_list_and_check_clean(run, config_dir):
    write(config_dir, "burst", BURST)
    out = run("list")
    assert out.exit_code == 0
    line = next(x for x in out.output.splitlines() if x.startswith("burst"))
    assert line.split()[:5] == ["burst", "frequency", "critical", "on", "log"]
    data = json.loads(run("list", "--json").output)
    assert data["rules"][0]["params"]["min_count"] == 2 and data["problems"] == []
    check = run("check")
    assert check.exit_code == 0 and "1 rule(s) loaded, 0 problem(s)" in check.output


def test_check_lists_every_problem_of_every_file_and_exits_1(run, config_dir):
    write(config_dir, "burst", BURST)
    write(config_dir, "typo", 'type = "frequncy"\n')
    write(config_dir, "bad-severity", 'type = "match"\nquery = "x"\nseverity = "urgent"\n')
    write(config_dir, "evented", BURST + 'group_by = ["event"]\n')
    out = run("check")
    assert out.exit_code == 1
    assert "did you mean 'frequency'" in out.output and "typo.toml" in out.output
    assert "bad-severity.toml: [severity]" in out.output
    assert "not available until event detection exists" in out.output  # a warning, loaded
    assert "2 rule(s) loaded, 2 problem(s) in 2 file(s)" in out.output
    assert "Traceback" not in out.output


def test_replay_prints_firing_and_resolution_and_sends_nothing(run, config_dir):
    write(config_dir, "burst", BURST)
    now = datetime.now(timezone.utc)
    with Monitor.open(config_dir) as mon:
        mon.store.put_many([
            make_document(f"学校围墙倒塌 {i}", published_at=now - timedelta(minutes=m),
                          crawled_at=now) for i, m in enumerate((145, 135, 20))])
    out = run("test", "burst", "--since", "3h", "--step", "10", "--json")
    assert out.exit_code == 0, out.output
    events = json.loads(out.output)
    # steps at now-180, -170, …: [t-60, t) first holds both at t = now-130, and only the
    # one at 135 minutes ago at t = now-80
    assert [(e["resolved"], e["count"]) for e in events] == [(False, 2), (True, 1)]
    fired, gone = (datetime.fromisoformat(e["at"]) for e in events)
    assert abs(fired - (now - timedelta(minutes=130))) < timedelta(minutes=1)
    assert abs(gone - (now - timedelta(minutes=80))) < timedelta(minutes=1)
    text = run("test", "burst", "--since", "3h", "--step", "10")
    assert "FIRING" in text.output and "resolved" in text.output and "nothing sent" in text.output


def test_replay_unknown_or_broken_rule_is_one_line(run, config_dir):
    write(config_dir, "typo", 'type = "frequncy"\n')
    out = run("test", "typo")
    assert out.exit_code == 1 and "did you mean 'frequency'" in out.output
    out = run("test", "nope")
    assert out.exit_code == 1 and "no rule 'nope'" in out.output
