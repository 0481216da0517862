"""``config/escalation.toml``: the clock policies load, every inconsistency is a ConfigError
naming the file and the key, and due_steps turns a clock and anchor times into keyed steps."""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.durations import format_duration, parse_duration
from monitor.errors import ConfigError
from monitor.org import load_org
from monitor.policy import (ANCHORS, RESPONSIBLE_UNIT, Clock, Policy, UnknownLevel, due_steps,
                            load_policy)
from monitor.starter import template

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config"
SHANGHAI = ZoneInfo("Asia/Shanghai")
H = timedelta(hours=1)

BASE = """
[levels."重大"]
basis = "seed 001 (八)"

[levels."重大".release_target]
anchor = "detected"
due = "3h"
warn_at = ["2h", "2h30m"]
notify = [["责任单位"], ["责任单位", "政府办"], ["宣传部", "网信办"]]

[levels."重大".release_limit]
anchor = "detected"
due = "5h"
warn_at = ["4h"]
notify = [["政府办"], ["主要负责人"]]

[levels."重大".press_conference]
anchor = "occurred"
due = "24h"
notify = [["新闻发言人"]]

[levels."重大".rolling_release]
anchor = "released"
every = "6h"
notify = [["责任单位", "新闻发言人"]]
"""


def write(tmp_path: Path, text: str, *, org: bool = True) -> Path:
    """A configuration directory with ``text`` as escalation.toml (and the shipped org.toml)."""
    (tmp_path / "escalation.toml").write_text(text, encoding="utf-8")
    if org:
        shutil.copy(SHIPPED / "org.toml", tmp_path / "org.toml")
    return tmp_path


def refused(tmp_path: Path, text: str, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        load_policy(write(tmp_path, text, **kwargs))
    message = str(caught.value)
    assert "\n" not in message
    return message


def local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%m-%d %H:%M")


# ── the shipped file ─────────────────────────────────────────────────────────────────────────

def test_the_shipped_policy_gives_the_seeds_numbers_to_the_top_two_levels():
    policy = load_policy(SHIPPED)
    assert policy.exists and policy.names() == ["特别重大", "重大", "较大", "一般"]
    for name in ("特别重大", "重大"):
        level = policy.level(name)
        assert "seed 001 (八)" in level.basis and "002 row 34" in level.basis
        clocks = {c.name: c for c in policy.clocks_for(name)}
        assert list(clocks) == ["release_target", "release_limit", "press_conference",
                                "rolling_release"]
        target, limit, press = (clocks["release_target"], clocks["release_limit"],
                                clocks["press_conference"])
        assert (target.kind, target.due, target.warn) == ("target", 3 * H, [2 * H, 2.5 * H])
        assert (limit.kind, limit.due, limit.warn) == ("limit", 5 * H, [4 * H, 4.5 * H])
        assert (press.kind, press.due, press.anchor) == ("press", 24 * H, "occurred")
        assert target.anchor == limit.anchor == "detected"
        assert not target.breach and limit.breach and press.breach
        assert clocks["rolling_release"].anchor == "released"
        # up the tree: the responsible unit first, 主要负责人 by the limit's deadline
        assert target.notify[0][0] == RESPONSIBLE_UNIT
        assert {"政府办", "宣传部", "网信办", "主要负责人"} <= set(limit.notify[-1])
        assert len(target.notify) == len(target.warn) + 1
    for name in ("较大", "一般"):
        level = policy.level(name)
        assert "2016" in level.basis and "not in the seeds" in level.basis
        assert level.clock("target") is None and level.clock("press") is None
        assert level.clock("limit").due == 48 * H


def test_every_role_the_shipped_policy_names_is_an_org_role_with_channels():
    org = load_org(SHIPPED)
    named = {role for level in load_policy(SHIPPED).levels.values() for clock in level.clocks
             for step in clock.notify for role in step}
    assert named - {RESPONSIBLE_UNIT} == {"新闻发言人", "政府办", "宣传部", "网信办", "主要负责人"}
    for role in named - {RESPONSIBLE_UNIT}:
        assert org.channels_of(role) == ["log"], role


def test_the_starter_ships_the_same_policy_and_init_writes_it(tmp_path):
    assert template("escalation.toml") == (SHIPPED / "escalation.toml").read_text("utf-8")
    assert template("org.toml") == (SHIPPED / "org.toml").read_text("utf-8")
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "cfg")])
    assert result.exit_code == 0, result.output
    written = load_policy(tmp_path / "cfg")
    assert written.names() == load_policy(SHIPPED).names()
    assert written.clocks_for("重大") == load_policy(SHIPPED).clocks_for("重大")


def test_no_file_is_an_empty_policy_and_asking_for_a_level_says_why(tmp_path):
    policy = load_policy(tmp_path)
    assert policy == Policy(path=tmp_path / "escalation.toml") and policy.names() == []
    with pytest.raises(UnknownLevel, match="escalation.toml does not exist"):
        policy.level("重大")


def test_an_unknown_level_is_refused_with_a_suggestion():
    policy = load_policy(SHIPPED)
    with pytest.raises(UnknownLevel) as caught:
        policy.clocks_for("重要")
    assert "unknown level '重要'; did you mean '重大'?" in str(caught.value)
    assert "特别重大, 重大, 较大, 一般" in str(caught.value)
    assert policy.level(" 重大 ").name == "重大"


# ── due_steps ────────────────────────────────────────────────────────────────────────────────

def clocks(tmp_path) -> dict[str, Clock]:
    return {c.name: c for c in load_policy(write(tmp_path, BASE)).clocks_for("重大")}


def test_due_steps_of_a_target_and_a_limit(tmp_path):
    c = clocks(tmp_path)
    detected = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)
    steps = due_steps(c["release_target"], {"detected": detected})
    assert [(s.key, local(s.at), s.kind, s.roles) for s in steps] == [
        ("release_target/0", "11-20 12:00", "warn", ["责任单位"]),
        ("release_target/1", "11-20 12:30", "warn", ["责任单位", "政府办"]),
        ("release_target/due", "11-20 13:00", "deadline", ["宣传部", "网信办"])]
    assert all(s.at.tzinfo is timezone.utc for s in steps)
    assert [s.breach for s in steps] == [False, False, False]
    limit = due_steps(c["release_limit"], {"detected": detected, "occurred": detected - H})
    assert [(s.key, s.at, s.breach) for s in limit] == [
        ("release_limit/0", datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc), False),
        ("release_limit/due", datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc), True)]
    assert limit[-1].elapsed == 5 * H and limit[-1].clock == "release_limit"


def test_a_clock_that_starts_at_2330_crosses_midnight(tmp_path):
    c = clocks(tmp_path)
    late = datetime(2026, 9, 30, 23, 30, tzinfo=SHANGHAI)   # the eve of 国庆
    anchors = {"occurred": late, "detected": late}
    target = due_steps(c["release_target"], anchors)
    assert [s.local("Asia/Shanghai").strftime("%Y-%m-%d %H:%M") for s in target] == [
        "2026-10-01 01:30", "2026-10-01 02:00", "2026-10-01 02:30"]
    assert [s.at.strftime("%Y-%m-%d %H:%M") for s in target] == [
        "2026-09-30 17:30", "2026-09-30 18:00", "2026-09-30 18:30"]
    assert [local(s.at) for s in due_steps(c["release_limit"], anchors)] == [
        "10-01 03:30", "10-01 04:30"]
    assert [local(s.at) for s in due_steps(c["press_conference"], anchors)] == ["10-01 23:30"]
    # 23:30 UTC (07:30 the next morning in Shanghai): the UTC date changes, the local one not
    utc_late = datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc)
    steps = due_steps(c["release_target"], {"detected": utc_late})
    assert [s.at.strftime("%Y-%m-%d %H:%M") for s in steps] == [
        "2027-01-01 01:30", "2027-01-01 02:00", "2027-01-01 02:30"]
    assert [local(s.at) for s in steps] == ["01-01 09:30", "01-01 10:00", "01-01 10:30"]


def test_due_steps_are_pure_and_keyed_the_same_every_time(tmp_path):
    c = clocks(tmp_path)
    anchors = {"detected": datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)}
    shifted = {"detected": anchors["detected"].astimezone(timezone(timedelta(hours=8)))}
    assert due_steps(c["release_target"], anchors) == due_steps(c["release_target"], shifted)
    assert anchors == {"detected": datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)}


def test_a_clock_whose_anchor_is_not_known_yet_has_no_steps(tmp_path):
    c = clocks(tmp_path)
    assert due_steps(c["press_conference"], {"detected": datetime.now(timezone.utc)}) == []
    assert due_steps(c["rolling_release"], {"occurred": datetime.now(timezone.utc)}) == []
    with pytest.raises(ValueError, match="detected: expected a timezone-aware datetime"):
        due_steps(c["release_limit"], {"detected": datetime(2026, 11, 20, 10, 0)})


def test_rolling_reminders_up_to_now_and_the_next_one(tmp_path):
    rolling = clocks(tmp_path)["rolling_release"]
    released = datetime(2026, 11, 20, 15, 0, tzinfo=SHANGHAI)
    first = due_steps(rolling, {"released": released})
    assert [(s.key, local(s.at), s.kind) for s in first] == [
        ("rolling_release/1", "11-20 21:00", "reminder")]
    later = due_steps(rolling, {"released": released}, until=released + 13 * H)
    assert [(s.key, local(s.at)) for s in later] == [
        ("rolling_release/1", "11-20 21:00"), ("rolling_release/2", "11-21 03:00"),
        ("rolling_release/3", "11-21 09:00")]
    assert later[0] == first[0] and all(s.roles == ["责任单位", "新闻发言人"] for s in later)
    exactly = due_steps(rolling, {"released": released}, until=released + 12 * H)
    assert [s.key for s in exactly] == ["rolling_release/1", "rolling_release/2",
                                        "rolling_release/3"]
    assert [s.key for s in due_steps(rolling, {"released": released},
                                     until=released - H)] == ["rolling_release/1"]
    assert rolling.stopped_by == "close" and not rolling.breach


def test_clock_lookup_by_name_or_kind(tmp_path):
    level = load_policy(write(tmp_path, BASE)).level("重大")
    assert level.clock("release_limit") is level.clock("limit")
    assert level.clock("press").stopped_by == "press-conference"
    assert level.clock("release_target").stopped_by == "release"
    assert level.clock("nothing") is None


# ── bad input ────────────────────────────────────────────────────────────────────────────────

TARGET = 'due = "3h"\nwarn_at = ["2h", "2h30m"]'

BAD = [
    # (replace, with, key, message)
    (TARGET, 'due = "6h"\nwarn_at = ["2h", "2h30m"]', "levels.重大.release_target.due",
     "the target (6h) is not before the limit (5h)"),
    (TARGET, 'due = "5h"\nwarn_at = ["2h", "2h30m"]', "levels.重大.release_target.due",
     "the target (5h) is not before the limit (5h)"),
    (TARGET, 'due = "3h"\nwarn_at = ["2h", "3h"]', "levels.重大.release_target.warn_at",
     "'3h' is at or after the deadline (due = '3h')"),
    (TARGET, 'due = "3h"\nwarn_at = ["2h", "3h30m"]', "levels.重大.release_target.warn_at",
     "'3h30m' is at or after the deadline"),
    (TARGET, 'due = "3h"\nwarn_at = ["2h30m", "2h"]', "levels.重大.release_target.warn_at",
     "'2h' is not after the step before it ('2h30m'); list the steps in order"),
    ('anchor = "occurred"', 'anchor = "ocurred"', "levels.重大.press_conference.anchor",
     "unknown anchor 'ocurred'; did you mean 'occurred'? (expected one of occurred, detected, "
     "confirmed)"),
    ('anchor = "occurred"', 'anchor = "released"', "levels.重大.press_conference.anchor",
     "only rolling_release may count from the release"),
    ('anchor = "released"', 'anchor = "closed"', "levels.重大.rolling_release.anchor",
     "expected one of occurred, detected, confirmed, released"),
    ('[["政府办"], ["主要负责人"]]', '[["政府办"], ["主要负责任"]]',
     "levels.重大.release_limit.notify",
     "unknown role '主要负责任'; did you mean '主要负责人'? (define it in org.toml as "
     '[roles."主要负责任"])'),
    ('[["政府办"], ["主要负责人"]]', '[["政府办"], ["孙七"]]', "levels.重大.release_limit.notify",
     "unknown role '孙七' (that is a person; notify names roles"),
    ('[["政府办"], ["主要负责人"]]', '[["政府办"]]', "levels.重大.release_limit.notify",
     "expected 2 list(s) of roles (one list of roles per warn_at step, then one for the "
     "deadline), got 1 list(s)"),
    ('[["政府办"], ["主要负责人"]]', '["政府办", "主要负责人"]', "levels.重大.release_limit.notify",
     "expected 2 list(s) of roles"),
    ('[["政府办"], ["主要负责人"]]', '[["政府办"], []]', "levels.重大.release_limit.notify",
     "step 2 tells nobody"),
    ('[["政府办"], ["主要负责人"]]', '[["政府办"], [""]]', "levels.重大.release_limit.notify",
     "expected role names, got ''"),
    ('due = "24h"', 'due = "0h"', "levels.重大.press_conference.due",
     "'0h' is not a positive duration"),
    ('due = "24h"', 'due = "-1h"', "levels.重大.press_conference.due", "'-1h' is not a duration"),
    ('due = "24h"', 'due = "24 hours"', "levels.重大.press_conference.due", "is not a duration"),
    ('due = "24h"', 'due = 24', "levels.重大.press_conference.due", "expected a string, got 24"),
    ('due = "24h"', 'due = "100d"', "levels.重大.press_conference.due", "longer than 90d"),
    ('due = "24h"', 'deu = "24h"', "levels.重大.press_conference.deu",
     "unknown key; did you mean 'due'?"),
    ('due = "24h"', 'description = "no deadline"', "levels.重大.press_conference.due",
     "missing; this key is required"),
    ('every = "6h"', 'every = "0m"', "levels.重大.rolling_release.every",
     "'0m' is not a positive duration"),
    ('warn_at = ["4h"]', 'warn_at = ["0m"]', "levels.重大.release_limit.warn_at[0]",
     "not a positive duration"),
    ('warn_at = ["4h"]', 'warn_at = [4]', "levels.重大.release_limit.warn_at[0]",
     'expected a duration such as "3h"'),
    ('warn_at = ["4h"]', 'warn_at = "4h"', "levels.重大.release_limit.warn_at",
     "expected a list, got '4h'"),
    ('warn_at = ["4h"]', 'warn_at = ["4h"]\nwarn = ["1h"]', "levels.重大.release_limit.warn",
     "unknown key; did you mean 'warn_at'?"),
    ('warn_at = ["4h"]', 'warn_after = ["4h"]', "levels.重大.release_limit.warn_after",
     "unknown key; did you mean 'warn_at'?"),
    ('[levels."重大".release_limit]', '[levels."重大".release_limt]',
     "levels.重大.release_limt", "unknown key; did you mean 'release_limit'?"),
    ('basis = "seed 001 (八)"', 'basis = "seed 001 (八)"\nbasiss = "x"', "levels.重大.basiss",
     "unknown key; did you mean 'basis'?"),
    ('[levels."重大"]\n', '[level]\n[levels."重大"]\n', "level",
     "unknown key; did you mean 'levels'?"),
    ('every = "6h"', 'every = "6h"\nwarn_at = ["1h"]', "levels.重大.rolling_release.warn_at",
     "rolling reminders have no warn_at steps"),
    ('every = "6h"', 'due = "6h"', "levels.重大.rolling_release.due", "write every = \"6h\""),
    ('anchor = "detected"\ndue = "3h"', 'anchor = "confirmed"\ndue = "3h"',
     "levels.重大.release_target.anchor",
     "'confirmed' differs from release_limit's anchor 'detected'"),
    ('anchor = "detected"\ndue = "3h"', 'due = "3h"', "levels.重大.release_target.anchor",
     "missing; this key is required"),
    ('basis = "seed 001 (八)"', 'basis = """two\nlines"""', "levels.重大.basis",
     "expected one line of text"),
]


@pytest.mark.parametrize("old, new, key, says", BAD, ids=[f"{i}-{b[3][:30]}"
                                                          for i, b in enumerate(BAD)])
def test_a_bad_policy_is_a_config_error_naming_the_file_and_key(tmp_path, old, new, key, says):
    assert old in BASE
    message = refused(tmp_path, BASE.replace(old, new, 1))
    assert message.startswith(f"{tmp_path / 'escalation.toml'}: [{key}]: "), message
    assert says in message, message


def test_a_level_without_a_release_limit_is_refused(tmp_path):
    text = BASE.split('[levels."重大".release_limit]')[0] + (
        '[levels."一般"]\nbasis = "no clocks"\n')
    message = refused(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'escalation.toml'}: [levels.重大.release_limit]: "
                              "missing; every level needs a release limit")
    only_rolling = refused(tmp_path, BASE + '\n[levels."一般".rolling_release]\n'
                           'anchor = "released"\nevery = "1d"\nnotify = [["新闻发言人"]]\n')
    assert "[levels.一般.release_limit]: missing" in only_rolling


def test_a_file_with_no_levels_or_a_level_that_is_not_a_table(tmp_path):
    assert "[levels]: no levels" in refused(tmp_path, "# nothing yet\n")
    assert "[levels]: no levels" in refused(tmp_path, "[levels]\n")
    assert "[levels.重大]: expected a table" in refused(tmp_path, '[levels]\n"重大" = "5h"\n')
    assert "[levels.重大.release_limit]: expected a table" in refused(
        tmp_path, '[levels."重大"]\nrelease_limit = "5h"\n')
    assert "not valid TOML" in refused(tmp_path, BASE + "\n[levels\n")


def test_roles_are_checked_against_org_toml_that_may_be_missing(tmp_path):
    message = refused(tmp_path, BASE, org=False)
    assert "[levels.重大.release_target.notify]: unknown role '政府办'" in message
    assert f"({tmp_path / 'org.toml'} does not exist)" in message
    only_unit = BASE.split('[levels."重大".release_target]')[0] + (
        '[levels."重大".release_limit]\nanchor = "detected"\ndue = "5h"\n'
        'notify = [["责任单位"]]\n')
    assert load_policy(write(tmp_path, only_unit, org=False)).clocks_for("重大")[0].notify == [
        [RESPONSIBLE_UNIT]]


def test_an_org_role_may_not_take_the_reserved_name(tmp_path):
    directory = write(tmp_path, BASE)
    org = directory / "org.toml"
    org.write_text(org.read_text("utf-8") + '\n[roles."责任单位"]\ncontacts = ["张三"]\n',
                   encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_policy(directory)
    assert str(caught.value).startswith(f"{org}: [roles.责任单位]: '责任单位' is reserved")


def test_a_broken_org_file_is_reported_as_itself(tmp_path):
    directory = write(tmp_path, BASE)
    (directory / "org.toml").write_text('[roles."政府办"]\ncontacts = ["无名"]\n', "utf-8")
    with pytest.raises(ConfigError, match=r"org.toml: \[roles.政府办.contacts\]: unknown contact"):
        load_policy(directory)


def test_notify_lists_are_deduplicated_and_stripped(tmp_path):
    text = BASE.replace('[["政府办"], ["主要负责人"]]', '[[" 政府办", "政府办"], ["主要负责人"]]')
    limit = load_policy(write(tmp_path, text)).level("重大").clock("limit")
    assert limit.notify == [["政府办"], ["主要负责人"]]


def test_anchors_and_durations_as_written():
    assert ANCHORS == ("occurred", "detected", "confirmed")
    assert parse_duration("2h30m") == 9000 and parse_duration("45m") == 2700
    assert [format_duration(timedelta(seconds=s)) for s in (9000, 2700, 48 * 3600, 0)] == [
        "2h30m", "45m", "48h", "0s"]
    assert format_duration(90 * 86400) == "90d"
