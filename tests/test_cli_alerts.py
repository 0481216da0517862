"""``monitor alerts …`` on a real configuration directory and state database: alerts made through
the Alerts/Outbox APIs with a hand clock, then read and changed through the command line."""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from alerts.channels.log import LogChannel
from alerts.lifecycle import Alerts, Firing
from alerts.message import AlertMessage
from alerts.outbox import Outbox
from monitor.cli import cli
from monitor.cli_alerts import parse_duration
from monitor.config import load_config
from monitor.state import StateDB

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 in Asia/Shanghai
PLACE = {"place": "城关镇"}


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


@pytest.fixture
def world(make_config):
    """A config dir with a log channel ``duty``, and Alerts on its state database."""
    directory = make_config()
    (directory / "channels.toml").write_text(
        '[duty]\ntype = "log"\nfile = "duty.jsonl"\n', encoding="utf-8")
    engine = StateDB(load_config(directory).state_url).engine
    clock = Clock()
    box = Outbox(engine, {"duty": LogChannel("duty", {"file": str(directory / "duty.jsonl")})},
                 clock=clock, rng=random.Random(1))
    book = Alerts(box)

    def run(*args, env=None):
        return CliRunner().invoke(cli, ["-c", str(directory), "alerts", *args],
                                  env={"USER": "duty-officer", **(env or {})})

    return book, clock, run


def fire(book, **kw):
    base = dict(rule="school-wall", group=PLACE, severity="warning", title="校园墙话题升温",
                reason="1 小时内 12 条", channels=["duty"], count=12)
    return book.fire(Firing(**{**base, **kw}))


def one_line_error(result, code=1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception,
                                                               (ValueError, LookupError))
    lines = [x for x in result.output.splitlines() if x.startswith("Error")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_list_shows_open_alerts_in_the_office_zone(world):
    book, clock, run = world
    alert = fire(book)
    other = fire(book, rule="quiet-source", group={"source": "county-news"}, title="信源停更",
                 severity="critical")
    book.clear("quiet-source", {"source": "county-news"}, now=T0 + timedelta(minutes=30))
    out = run("list")
    assert out.exit_code == 0, out.output
    row = next(x for x in out.output.splitlines() if x.startswith(alert.id))
    assert row.split()[1:4] == ["firing", "warning", "school-wall"]
    assert "place=城关镇" in row and "2026-12-01 10:00" in row
    assert other.id not in out.output  # resolved: not open
    assert "1 of 1 alert(s)" in out.output
    every = json.loads(run("list", "--state", "all", "--json").output)
    assert {a["id"]: a["state"] for a in every} == {alert.id: "firing", other.id: "resolved"}
    assert every[0]["group"] in (PLACE, {"source": "county-news"})
    resolved = json.loads(run("list", "--state", "resolved", "--json").output)
    assert [a["id"] for a in resolved] == [other.id] and resolved[0]["resolved_by"] == "rule"
    assert json.loads(run("list", "--rule", "nothing", "--json").output) == []
    limited = run("list", "--state", "all", "--limit", "1")
    assert "1 of 2 alert(s); --limit to see 1 more" in limited.output


def test_ack_unack_resolve_record_who_and_why(world):
    book, clock, run = world
    alert = fire(book)
    out = run("ack", alert.id, "--by", "张科长", "--comment", "已联系学校")
    assert out.exit_code == 0 and f"{alert.id}: acknowledged (by 张科长, 已联系学校)" in out.output
    stored = book.get(alert.id)
    assert (stored.state, stored.acked_by, stored.ack_comment) == ("acknowledged", "张科长",
                                                                   "已联系学校")
    assert "cannot acknowledge" in one_line_error(run("ack", alert.id, "--by", "李"))
    out = run("unack", alert.id, "--json")  # --by defaults to $USER
    assert json.loads(out.output)["state"] == "firing"
    out = run("resolve", alert.id, "--comment", "学校已回应", "--json")
    data = json.loads(out.output)
    assert (data["state"], data["resolved_by"], data["resolve_comment"]) == (
        "resolved", "duty-officer", "学校已回应")
    # the firing notice went out, so the resolved one is queued for the service (not dead)
    kinds = {d.kind: d.state for d in book.outbox.deliveries(alert_id=alert.id)}
    assert kinds == {"firing": "pending", "resolved": "pending"}
    assert "cannot resolve" in one_line_error(run("resolve", alert.id))


def test_show_has_transitions_notices_and_deliveries(world):
    book, clock, run = world
    alert = fire(book)
    book.outbox.deliver_due(now=T0)
    book.ack(alert.id, "王主任", "在跟进", now=T0 + timedelta(minutes=5))
    out = run("show", alert.id)
    assert out.exit_code == 0, out.output
    text = out.output
    assert f"alert     {alert.id}" in text and "title     校园墙话题升温" in text
    assert "group     place=城关镇" in text and "count     12" in text
    assert "acked     2026-12-01 10:05 by 王主任: 在跟进" in text
    assert "transitions (3)" in text
    ack_row = next(x for x in text.splitlines() if x.startswith("2026-12-01 10:05"))
    assert ack_row.split()[2:7] == ["ack", "firing", "acknowledged", "王主任", "在跟进"]
    assert "notices (1)" in text
    sent_row = next(x for x in text.splitlines() if " firing " in x and " duty " in x)
    assert sent_row.split()[-4:] == ["sent", "1", "2026-12-01", "10:00"]
    data = json.loads(run("show", alert.id, "--json").output)
    assert [t["action"] for t in data["transitions"]] == ["fired", "notified", "ack"]
    assert data["transitions"][-1]["actor"] == "王主任"
    assert data["notices"][0]["kind"] == "firing"
    assert data["deliveries"][0]["state"] == "sent" and data["deliveries"][0]["attempts"] == 1
    assert data["alert"]["group"] == PLACE


def test_unknown_alert_is_a_one_line_error(world):
    book, clock, run = world
    for args in (["show", "nope"], ["ack", "nope"], ["unack", "nope"], ["resolve", "nope"]):
        assert "no alert 'nope'" in one_line_error(run(*args))


def test_outbox_lists_dead_letters_and_resends_them(world):
    book, clock, run = world
    alert = fire(book)
    message = AlertMessage(alert_id="manual-1", kind="firing", rule="manual", rule_name="",
                           severity="info", title="测试", reason="手工", fired_at=T0)
    [dead] = book.outbox.enqueue(message, ["ghost"])
    out = run("outbox")
    assert out.exit_code == 0, out.output
    assert "last error: unknown channel 'ghost'" in out.output
    assert "2 of 2 shown; in all: 1 dead, 1 pending" in out.output
    pending_row = next(x for x in out.output.splitlines() if alert.id in x)
    assert pending_row.split()[1:4] == ["duty", "pending", "0"] and "2026-12-01 10:00" in \
        pending_row
    only_dead = json.loads(run("outbox", "--dead", "--json").output)
    assert [(d["id"], d["channel"], d["state"]) for d in only_dead] == [(dead, "ghost", "dead")]
    assert [d["channel"] for d in json.loads(run("outbox", "--pending", "--json").output)] \
        == ["duty"]
    out = run("outbox", "--resend", str(dead))
    assert out.exit_code == 0 and f"delivery {dead} queued again" in out.output
    again = {d.id: (d.state, d.attempts) for d in book.outbox.deliveries()}
    assert again[dead] == ("pending", 0)
    assert "is pending, not dead" in one_line_error(run("outbox", "--resend", str(dead)))
    assert "no delivery 999" in one_line_error(run("outbox", "--resend", "999"))


def test_silence_list_and_unsilence(world):
    book, clock, run = world
    out = run("silence", "school-wall", "--group", "place=城关镇", "--for", "2h",
              "--reason", "学校已在处理", "--json")
    assert out.exit_code == 0, out.output
    made = json.loads(out.output)
    assert made["reason"] == "学校已在处理" and made["created_by"] == "duty-officer"
    span = datetime.fromisoformat(made["ends_at"]) - datetime.fromisoformat(made["starts_at"])
    assert span == timedelta(hours=2)
    assert json.loads(made["group_key"]) == PLACE
    out = run("silence", "quiet-source", "--for", "30m", "--reason", "维护", "--by", "李")
    assert out.exit_code == 0 and out.output.startswith("silence ")
    listing = run("silences")
    rows = [x for x in listing.output.splitlines() if x.split()[:1] in ([str(made["id"])],
                                                                        [str(made["id"] + 1)])]
    assert [r.split()[1:3] for r in rows] == [["school-wall", "place=城关镇"],
                                              ["quiet-source", "(all)"]]
    assert run("unsilence", str(made["id"])).exit_code == 0
    assert [s["rule"] for s in json.loads(run("silences", "--json").output)] == ["quiet-source"]
    assert f"no silence {made['id']} in force" in one_line_error(run("unsilence",
                                                                      str(made["id"])))


@pytest.mark.parametrize("bad, says", [("0m", "not a positive"), ("-1h", "not a duration"),
                                       ("soon", "not a duration"), ("2 hours", "not a duration"),
                                       ("400d", "longer than 90 days"), ("", "not a duration")])
def test_bad_duration_is_a_usage_error(world, bad, says):
    book, clock, run = world
    out = run("silence", "school-wall", "--for", bad, "--reason", "x")
    assert out.exit_code == 2 and says in out.output and "Traceback" not in out.output
    assert book.silences(now=datetime.now(timezone.utc)) == []


def test_silence_needs_a_reason_with_text(world):
    book, clock, run = world
    assert "needs a reason" in one_line_error(run("silence", "r", "--for", "1h",
                                                  "--reason", "  "))


def test_parse_duration():
    assert parse_duration("30m") == 1800 and parse_duration("2h") == 7200
    assert parse_duration("1d") == 86400 and parse_duration("1h30m") == 5400
    assert parse_duration(" 2H ") == 7200
    for bad in ("0", "0h", "h", "1x", "-5m", "1.5h", "91d"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_as_and_monitor_user_name_who_acts_as_for_incidents(world):
    book, clock, run = world
    alert = fire(book)
    assert run("ack", alert.id, "--as", "钱二").exit_code == 0
    assert book.get(alert.id).acked_by == "钱二"
    assert run("unack", alert.id, env={"MONITOR_USER": "王五"}).exit_code == 0
    assert book.transitions(alert.id)[-1]["actor"] == "王五"  # $MONITOR_USER before $USER
