"""monitor.response: a level set by a person starts its clocks from escalation.toml; a release
stops the release clocks; the service fires the steps (injected clock)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from clocks import Clock
from monitor.clocks import Clocks
from monitor.incidents import Incidents, Refused
from monitor.org import load_org
from monitor.policy import load_policy
from monitor.starter import write_config
from monitor.state import StateDB

UTC = timezone.utc
T0 = datetime(2026, 12, 1, 0, 55, tzinfo=UTC)  # 08:55 in Shanghai: the wall collapses


@pytest.fixture
def office(tmp_path):
    from monitor.response import Response

    cfg = tmp_path / "config"
    write_config(cfg, sources=[], extras=True)
    engine = StateDB(f"sqlite:///{tmp_path / 'state.db'}").engine
    clock = Clock(T0 + timedelta(minutes=30))
    org = load_org(cfg)
    incidents = Incidents(engine, clock=clock, people=list(org.contacts))
    response = Response(incidents, Clocks(engine), load_policy(cfg))
    return response, clock, next(iter(org.contacts))


def _pending(response, iid):
    return [s for s in response.clocks.steps(iid) if s["state"] == "pending"]


def test_setting_the_level_starts_its_clocks_from_the_policy(office):
    response, clock, who = office
    inc = response.open("青石乡中心小学围墙倒塌", by=who, occurred_at=T0,
                        detected_at=T0 + timedelta(minutes=25))
    assert response.clocks.steps(inc.id) == []  # no level: no clock
    response.set_level(inc.id, "重大", by=who, why="有学生受伤，舆情快速发酵")
    steps = _pending(response, inc.id)
    limit = [s for s in steps if s["key"] == "重大/release_limit/due"]
    assert limit and limit[0]["due_at"] == T0 + timedelta(minutes=25, hours=5)
    assert limit[0]["is_limit"]
    press = [s for s in steps if s["key"] == "重大/press_conference/due"]
    assert press[0]["due_at"] == T0 + timedelta(hours=24)  # counted from the occurrence
    assert response.arm(inc.id) == 0  # arming again adds nothing


def test_a_release_stops_the_release_clocks_and_starts_rolling_reminders(office):
    response, clock, who = office
    inc = response.open("围墙倒塌", by=who, occurred_at=T0, detected_at=T0, level="重大",
                        why="学生受伤")
    clock.advance(hours=2, minutes=30)  # now T0 + 3 h
    done = response.release(inc.id, url="http://www.example.gov.cn/xwfb/1.html",
                            channel="门户网站", at=T0 + timedelta(hours=2, minutes=45), by=who)
    assert done.id == inc.id
    keys = {s["key"] for s in _pending(response, inc.id)}
    assert not any("release_target" in k or "release_limit" in k for k in keys)
    assert any(k.startswith("重大/rolling_release/") for k in keys)
    assert any(k.startswith("重大/press_conference/") for k in keys)  # still running
    [event] = [e for e in response.incidents.timeline(inc.id) if e.kind == "release"]
    assert "门户网站" in event.text and event.at == T0 + timedelta(hours=2, minutes=45)
    with pytest.raises(Refused, match="already has its authoritative release"):
        response.release(inc.id, url="http://x/2", channel="政务微博", at=clock(), by=who)


def test_a_release_in_the_future_or_before_the_event_is_refused(office):
    response, clock, who = office
    inc = response.open("围墙倒塌", by=who, occurred_at=T0, detected_at=T0, level="重大",
                        why="学生受伤")
    with pytest.raises(Refused, match="in the future"):
        response.release(inc.id, url="http://x/1", channel="门户网站",
                         at=clock() + timedelta(hours=1), by=who)
    with pytest.raises(Refused, match="before the incident occurred"):
        response.release(inc.id, url="http://x/1", channel="门户网站",
                         at=T0 - timedelta(hours=1), by=who)
    assert any(s["key"] == "重大/release_limit/due" for s in _pending(response, inc.id))


def test_a_level_changed_later_replaces_the_pending_steps(office):
    response, clock, who = office
    inc = response.open("围墙倒塌", by=who, occurred_at=T0, detected_at=T0, level="较大",
                        why="初判")
    assert any(s["key"].startswith("较大/") for s in _pending(response, inc.id))
    response.set_level(inc.id, "重大", by=who, why="伤亡情况升级")
    pending = _pending(response, inc.id)
    assert pending and all(s["key"].startswith("重大/") for s in pending)


def test_the_limit_passing_is_a_breach_when_the_service_ticks(office):
    response, clock, who = office
    inc = response.open("围墙倒塌", by=who, occurred_at=T0, detected_at=T0, level="重大",
                        why="学生受伤")
    response.clocks.tick(T0 + timedelta(hours=5))
    [breach] = response.clocks.breaches(inc.id)
    assert breach["clock"] == "release_limit"


def test_an_unknown_occurrence_counts_from_the_detection(office):
    response, clock, who = office
    inc = response.open("围墙倒塌", by=who, detected_at=T0, level="重大", why="学生受伤")
    [press] = [s for s in response.clocks.steps(inc.id)
               if s["key"] == "重大/press_conference/due"]
    assert press["due_at"] == T0 + timedelta(hours=24)


def test_the_press_office_records_the_release_from_the_command_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from monitor.cli import cli

    cfg = tmp_path / "config"
    write_config(cfg, extras=True)  # the shipped escalation.toml and org.toml
    who = next(iter(load_org(cfg).contacts))
    monkeypatch.setenv("MONITOR_USER", who)

    def run(*args):
        result = CliRunner().invoke(cli, ["-c", str(cfg), "incidents", *args])
        assert result.exit_code == 0, result.output
        return result.output

    opened = run("open", "青石乡中心小学围墙倒塌", "--occurred", "2h", "--level", "重大",
                 "--why", "学生受伤", "--json")
    iid = __import__("json").loads(opened)["id"]
    shown = run("show", iid)
    assert "重大/release_limit/due" in shown and "clocks (" in shown
    out = run("release", iid, "--url", "https://www.example.gov.cn/xwfb/1.html",
              "--channel", "门户网站", "--at", "30m")
    assert "released on 门户网站" in out
    shown = run("show", iid)
    assert "权威信息发布：门户网站" in shown
    assert "cancelled" in shown and "重大/rolling_release/1" in shown
    again = CliRunner().invoke(cli, ["-c", str(cfg), "incidents", "release", iid, "--url",
                                     "https://x/2", "--channel", "政务微博"])
    assert again.exit_code == 1 and "already has its authoritative release" in again.output


def test_press_conference_plan_warns_when_late_and_held_stops_its_clock(office):
    response, clock, who = office
    inc = response.open("围墙倒塌", by=who, occurred_at=T0, detected_at=T0, level="重大",
                        why="学生受伤")
    _, late = response.plan_press_conference(inc.id, at=T0 + timedelta(hours=20), by=who)
    assert late == ""
    _, late = response.plan_press_conference(inc.id, at=T0 + timedelta(hours=26), by=who)
    assert late.startswith("the plan is 2.0 h after the press-conference deadline")
    clock.advance(hours=8)
    response.press_conference_held(inc.id, at=T0 + timedelta(hours=8), by=who)
    assert not [s for s in _pending(response, inc.id) if "press_conference" in s["key"]]
    with pytest.raises(Refused, match="already has its press conference"):
        response.press_conference_held(inc.id, at=clock(), by=who)
    assert [e.kind for e in response.incidents.timeline(inc.id)].count("press_plan") == 2


def test_followups_restart_the_rolling_reminders_and_close_stops_every_clock(office):
    response, clock, who = office
    inc = response.open("围墙倒塌", by=who, occurred_at=T0, detected_at=T0, level="重大",
                        why="学生受伤")
    with pytest.raises(Refused, match="no authoritative release yet"):
        response.followup(inc.id, url="http://x/0", channel="政务微博", at=clock(), by=who)
    response.release(inc.id, url="http://x/1", channel="门户网站", at=clock(), by=who)
    first = [s["due_at"] for s in _pending(response, inc.id) if "rolling" in s["key"]]
    clock.advance(hours=4)
    response.followup(inc.id, url="http://x/2", channel="政务微博", at=clock(), by=who)
    later = [s["due_at"] for s in _pending(response, inc.id) if "rolling" in s["key"]]
    assert later and min(later) == clock() + timedelta(hours=6) and min(later) > min(first)
    response.close(inc.id, "处置完毕，已通报", by=who)
    assert _pending(response, inc.id) == []


def test_press_conference_commands_from_the_command_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from monitor.cli import cli

    cfg = tmp_path / "config"
    write_config(cfg, extras=True)
    monkeypatch.setenv("MONITOR_USER", next(iter(load_org(cfg).contacts)))
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(cli, ["-c", str(cfg), "incidents", *args])
        assert result.exit_code == code, result.output
        return result.output

    iid = __import__("json").loads(run("open", "围墙倒塌", "--occurred", "3h", "--level",
                                       "重大", "--why", "学生受伤", "--json"))["id"]
    late = run("press-conference", "plan", iid, "--at", "2099-01-01T10:00")
    assert "warning: the plan is" in late and "press conference planned" in late
    run("press-conference", "held", iid)
    run("release", iid, "--url", "https://x/1", "--channel", "门户网站")
    run("followup", iid, "--url", "https://x/2", "--channel", "政务微博")
    run("close", iid, "--summary", "处置完毕")
    shown = run("show", iid)
    assert "新闻发布会已举行" in shown and "持续发布：政务微博" in shown
    assert "pending" not in shown.split("timeline")[0]  # closing stopped every clock
