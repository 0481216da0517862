"""``monitor incidents …`` on a real configuration directory (with an org.toml naming people) and
a real state database: an alert fired through the lifecycle, then incidents opened, classified,
linked and closed through the command line, and the audit trail read back."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from alerts.channels.log import LogChannel
from alerts.lifecycle import Alerts, Firing
from alerts.message import AlertDoc
from alerts.outbox import Outbox
from monitor import audit
from monitor.cli import cli
from monitor.config import load_config
from monitor.state import StateDB

FIRED = datetime(2025, 6, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 in Asia/Shanghai
ORG = """
[contacts."张三"]
title = "网信办舆情值班员"

[contacts."王五"]
title = "网络舆情科科长"

[contacts."周八"]
title = "县委宣传部新闻科"
"""


@pytest.fixture
def world(make_config):
    """A config dir with org.toml (张三, 王五, 周八) and the engine of its state database."""
    directory = make_config(sources=[])
    (directory / "org.toml").write_text(ORG, encoding="utf-8")
    engine = StateDB(load_config(directory).state_url).engine

    def run(*args, user: str | None = "张三"):
        env = {"MONITOR_USER": user} if user is not None else {"MONITOR_USER": None}
        return CliRunner().invoke(cli, ["-c", str(directory), "incidents", *args], env=env)

    run.engine = engine
    run.directory = directory
    return run


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def one_line_error(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert not result.exception or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def opened(run, *args, user="张三") -> dict:
    return json.loads(ok(run("open", *args, "--json", user=user)))


def refusals(run) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.reason) for e in audit.entries(run.engine) if e.refused]


def fire_alert(run) -> str:
    duty = LogChannel("duty", {"file": str(run.directory / "d.jsonl")})
    box = Outbox(run.engine, {"duty": duty}, clock=lambda: FIRED, rng=random.Random(1))
    docs = [AlertDoc(title="某校围墙倒塌？", source="weibo", channel="weibo",
                     url="https://example.com/post/1")]
    alert = Alerts(box).fire(Firing(rule="school-wall", group={"place": "城关镇"},
                                    severity="critical", title="校园墙话题升温", reason="12 条",
                                    channels=["duty"], documents=docs, fired_at=FIRED),
                             now=FIRED)
    return alert.id


def test_open_from_an_alert_and_show_its_timeline_in_the_office_zone(world):
    aid = fire_alert(world)
    inc = opened(world, "城关镇学校围墙倒塌", "--from-alert", aid,
                 "--occurred", "2025-06-01T08:30", "--level", "重大", "--why", "涉及学生安全")
    assert inc["detected_at"] == "2025-06-01T02:00:00+00:00"  # the alert's first firing
    assert inc["occurred_at"] == "2025-06-01T00:30:00+00:00"  # 08:30 read in Asia/Shanghai
    assert inc["level"] == "重大" and inc["opened_by"] == "张三"
    ok(world("confirm", inc["id"], "--at", "2025-06-01T11:15", "--as", "王五"))
    out = ok(world("show", inc["id"]))
    assert "occurred   2025-06-01 08:30" in out and "detected   2025-06-01 10:00" in out
    assert "confirmed  2025-06-01 11:15" in out
    assert f"alert     {aid}" in out and "https://example.com/post/1" in out
    timeline = out.split("timeline (")[1]
    kinds = [line.split()[2] for line in timeline.splitlines()[3:] if line[:4].isdigit()]
    assert kinds == ["occurred", "detected", "confirmed", "opened", "level"]
    assert "level set to 重大: 涉及学生安全" in timeline
    shown = json.loads(ok(world("show", inc["id"], "--json")))
    assert [e["kind"] for e in shown["timeline"]] == kinds
    assert [(x["kind"], x["ref"]) for x in shown["links"]] == [
        ("alert", aid), ("document", "https://example.com/post/1")]


def test_level_category_link_close_by_named_people(world):
    inc = opened(world, "围墙", "--occurred", "2025-06-01T08:00", "--unit", "县教育局")
    out = ok(world("level", inc["id"], "重大", "--why", "舆情升温", "--as", "王五"))
    assert out.strip().splitlines()[-1] == f"{inc['id']}: level 重大 (by 王五: 舆情升温)"
    assert "no escalation.toml" in out  # this configuration has none: no clock runs
    ok(world("category", inc["id"], "虚假不实", "--why", "核实为谣言", user="周八"))
    out = ok(world("link", inc["id"], "--document", "0123456789abcdef0123", "--search",
                   "围墙 倒塌", "--note", "补充"))
    assert out.splitlines() == [f"{inc['id']}: linked document 0123456789abcdef0123",
                                f"{inc['id']}: linked search 围墙 倒塌"]
    ok(world("close", inc["id"], "--summary", "已澄清", "--as", "王五"))
    shown = json.loads(ok(world("show", inc["id"], "--json")))
    assert (shown["incident"]["level"], shown["incident"]["category"],
            shown["incident"]["state"], shown["incident"]["closed_by"],
            shown["incident"]["responsible_unit"]) == ("重大", "虚假不实", "closed", "王五",
                                                       "县教育局")
    acts = [(e.actor, e.action, e.reason) for e in audit.entries(world.engine)]
    assert acts == [("张三", "incident.open", ""), ("王五", "incident.set_level", "舆情升温"),
                    ("周八", "incident.set_category", "核实为谣言"), ("张三", "incident.link", ""),
                    ("张三", "incident.link", ""), ("王五", "incident.close", "")]


def test_a_person_not_in_org_toml_is_refused_and_audited(world):
    line = one_line_error(world("open", "围墙", "--as", "路人甲"))
    assert line == ("Error: unknown person '路人甲': not a contact in org.toml "
                    "(add them under [contacts])")
    inc = opened(world, "围墙")
    line = one_line_error(world("level", inc["id"], "重大", "--why", "x", user="张山"))
    assert "unknown person '张山'" in line and "did you mean '张三'?" in line
    line = one_line_error(world("close", inc["id"], "--summary", "x", user=None))
    assert "give --as NAME (or set $MONITOR_USER)" in line
    assert [(who, what) for who, what, _ in refusals(world)] == [
        ("路人甲", "incident.open"), ("张山", "incident.set_level"), ("(nobody)", "incident.close")]
    assert json.loads(ok(world("show", inc["id"], "--json")))["incident"]["level"] is None


def test_bad_input_is_refused_in_one_line_and_audited(world):
    inc = opened(world, "围墙", "--occurred", "2025-06-01T08:00", "--detected",
                 "2025-06-01T09:00")
    cases = [(("level", inc["id"], "特大", "--why", "x"), "unknown level '特大'"),
             (("category", inc["id"], "谣言", "--why", "x"), "unknown category '谣言'"),
             (("level", inc["id"], "重大"), "needs a reason (--why)"),
             (("level", "INC-20990101-001", "重大", "--why", "x"),
              "no incident 'INC-20990101-001'"),
             (("open", "y", "--occurred", "2025-06-01T10:00", "--detected", "2025-06-01T09:00"),
              "occurred (2025-06-01 10:00) after it was detected (2025-06-01 09:00)"),
             (("confirm", inc["id"], "--at", "2025-06-01T08:30"),
              "confirmed (2025-06-01 08:30) before it was detected (2025-06-01 09:00)"),
             (("link", inc["id"], "--alert", "nope"), "no alert 'nope'")]
    for args, message in cases:
        assert message in one_line_error(world(*args))
    line = one_line_error(world("confirm", inc["id"], "--at", "yesterday-ish"), code=2)
    assert "is not a usable time" in line
    reasons = [reason for _, _, reason in refusals(world)]
    assert len(reasons) == len(cases) + 1
    assert all(message in reason for (_, message), reason in zip(cases, reasons))
    assert "--at: 'yesterday-ish' is not a usable time" in reasons[-1]


def test_nothing_changes_after_closing(world):
    inc = opened(world, "围墙")
    ok(world("close", inc["id"], "--summary", "处置完毕"))
    line = one_line_error(world("category", inc["id"], "虚假不实", "--why", "后来发现是谣言"))
    assert "was closed on" in line and "its category can no longer change" in line
    one_line_error(world("close", inc["id"], "--summary", "again"))
    assert [what for _, what, _ in refusals(world)] == ["incident.set_category", "incident.close"]
    assert json.loads(ok(world("show", inc["id"], "--json")))["incident"]["category"] is None


def test_list_by_state(world):
    first = opened(world, "围墙倒塌", "--level", "一般", "--why", "初判")
    second = opened(world, "食堂投诉")
    ok(world("close", first["id"], "--summary", "完毕"))
    assert [i["id"] for i in json.loads(ok(world("list", "--json")))] == [second["id"]]
    assert [i["id"] for i in json.loads(ok(world("list", "--state", "closed", "--json")))] == [
        first["id"]]
    out = ok(world("list", "--state", "all"))
    assert out.splitlines()[-1] == "2 incident(s)"
    assert first["id"] in out and second["id"] in out and "一般" in out
    assert second["id"] > first["id"]  # numbered in order within the day
