"""monitor.playbook: config/playbook.toml gives each of the six categories of seed 001 (八) its
tasks; setting a category creates them with due times counted from that moment (an injected
clock), once; a category changed later cancels the old category's open tasks; a person marks a
task done; overdue tasks are listed; every act is in the audit trail.  Real SQLite throughout,
and the commands through click on a real configuration directory."""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from clocks import Clock
from monitor import audit
from monitor.cli import Context
from monitor.errors import ConfigError
from monitor.incident_tables import CATEGORIES
from monitor.incidents import Incidents, NotFound, Refused
from monitor.org import load_org
from monitor.playbook import Tasks, load_playbook
from monitor.starter import write_config
from monitor.state import StateDB

UTC = timezone.utc
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SHIPPED = Path(__file__).resolve().parent.parent / "config"


@pytest.fixture
def cfg(tmp_path):
    directory = tmp_path / "config"
    write_config(directory, sources=[], extras=True)
    return directory


@pytest.fixture
def office(cfg, tmp_path):
    engine = StateDB(f"sqlite:///{tmp_path / 'state.db'}").engine
    clock = Clock(T0)
    org = load_org(cfg)
    people = list(org.contacts)
    desk = Incidents(engine, clock=clock, people=people)
    tasks = Tasks(engine, clock=clock, people=people)
    return desk, tasks, clock, load_playbook(cfg, org)


def set_category(desk, tasks, book, iid, category, by="王五"):
    """What Response.set_category does once wired: the category, then its tasks."""
    desk.set_category(iid, category, by=by, why="研判")
    with audit.transaction(desk.engine) as conn:
        return tasks.create_for(conn, iid, category, desk.clock(), book, by=by)


# -- loading -------------------------------------------------------------------------------------

def test_the_shipped_playbook_gives_every_category_its_seed_tasks():
    book = load_playbook(SHIPPED)
    assert book.exists and list(book.categories) == list(CATEGORIES)
    titles = {c: [t.title for t in book.tasks_for(c)] for c in CATEGORIES}
    assert titles == {"建设性意见": ["公开采纳情况"], "实际困难": ["公开解决情况"],
                      "重大问题": ["公开调查处理情况"], "模糊认识": ["发布权威信息"],
                      "错误看法": ["引导纠正"],
                      "虚假不实": ["回应澄清", "向公安、网信部门移交线索"]}
    refer = book.tasks_for("虚假不实")[1]
    assert (refer.key, refer.owner, refer.due) == ("虚假不实/refer", "政府办", timedelta(hours=48))
    org = load_org(SHIPPED)
    assert all(t.owner in org.roles for c in CATEGORIES for t in book.tasks_for(c))
    assert "吸收采纳情况要对外公开" in book.basis["建设性意见"]
    assert load_playbook(SHIPPED / "nowhere").exists is False


GOOD = """
[categories."虚假不实"]
basis = "seed 001 (八)"

[categories."虚假不实".tasks.refer]
title = "向公安、网信部门移交线索"
owner = "网信办"
due = "2d"
"""


@pytest.mark.parametrize("change, key, words", [
    ('[categories."虚假不实"]', 'categories.虚假不实信息', "unknown category '虚假不实信息'"),
    ('owner = "网信办"', "categories.虚假不实.tasks.refer.owner", "unknown role '网信'"),
    ('owner = "网信办"', "categories.虚假不实.tasks.refer.owner", "that is a person"),
    ('due = "2d"', "categories.虚假不实.tasks.refer.due", "is not a duration"),
    ('due = "2d"', "categories.虚假不实.tasks.refer.due", "expected a string"),
    ('due = "2d"', "categories.虚假不实.tasks.refer.dew", "unknown key; did you mean 'due'?"),
    ('title = "向公安、网信部门移交线索"', "categories.虚假不实.tasks.refer.title", "missing"),
    ('[categories."虚假不实".tasks.refer]', "categories.虚假不实.tasks.Refer!", "lower-case"),
])
def test_a_bad_playbook_is_a_config_error_naming_file_and_key(cfg, change, key, words):
    replacement = {
        "unknown category": '[categories."虚假不实信息"]', "unknown role": 'owner = "网信"',
        "that is a person": 'owner = "郑十"', "is not a duration": 'due = "两天"',
        "expected a string": "due = 48", "unknown key": 'dew = "2d"', "missing": 'title = ""',
        "lower-case": '[categories."虚假不实".tasks."Refer!"]'}
    text = GOOD.replace(change, next(v for k, v in replacement.items() if words.startswith(k)))
    if words.startswith("unknown category"):
        text = text.replace('[categories."虚假不实".tasks', '[categories."虚假不实信息".tasks')
    (cfg / "playbook.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_playbook(cfg)
    message = str(caught.value)
    assert message.startswith(f"{cfg / 'playbook.toml'}: [{key}]: "), message
    assert words in message and "\n" not in message


def test_a_category_without_tasks_and_an_unknown_top_key_are_refused(cfg):
    path = cfg / "playbook.toml"
    path.write_text('[categories."错误看法"]\nbasis = "001"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[categories\.错误看法\.tasks\]: no tasks"):
        load_playbook(cfg)
    path.write_text(GOOD + '\n[categorys]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[categorys\]: unknown key; did you mean "
                                          r"'categories'"):
        load_playbook(cfg)


# -- tasks ---------------------------------------------------------------------------------------

def test_setting_a_category_creates_its_tasks_due_from_that_moment_once(office):
    desk, tasks, clock, book = office
    inc = desk.open("网传城关镇学校围墙倒塌", by="张三")
    clock.advance(minutes=40)
    made = set_category(desk, tasks, book, inc.id, "虚假不实")
    assert [(t.key, t.title, t.owner, t.due_at, t.state) for t in made] == [
        ("虚假不实/clarify", "回应澄清", "新闻发言人", T0 + timedelta(minutes=40, hours=24),
         "open"),
        ("虚假不实/refer", "向公安、网信部门移交线索", "政府办",
         T0 + timedelta(minutes=40, hours=48), "open")]
    clock.advance(hours=1)
    with audit.transaction(desk.engine) as conn:  # again: nothing new, times unchanged
        assert tasks.create_for(conn, inc.id, "虚假不实", clock(), book) == []
    assert [(t.key, t.due_at) for t in tasks.list(inc.id)] == [(t.key, t.due_at) for t in made]
    assert [e.kind for e in desk.timeline(inc.id)][-1] == "tasks"


def test_a_changed_category_cancels_the_old_open_tasks_and_keeps_done_ones(office):
    desk, tasks, clock, book = office
    inc = desk.open("围墙倒塌传言", by="张三")
    set_category(desk, tasks, book, inc.id, "虚假不实")
    clock.advance(hours=2)
    tasks.done(inc.id, "虚假不实/clarify", by="钱二", note="http://www.example.gov.cn/1.html")
    clock.advance(hours=1)
    made = set_category(desk, tasks, book, inc.id, "错误看法")
    assert [(t.key, t.due_at) for t in made] == [("错误看法/guide", T0 + timedelta(hours=27))]
    states = {t.key: t.state for t in tasks.list(inc.id)}
    assert states == {"虚假不实/clarify": "done", "虚假不实/refer": "cancelled",
                      "错误看法/guide": "open"}
    clock.advance(hours=1)  # back again: the cancelled task reopens, due from now
    again = set_category(desk, tasks, book, inc.id, "虚假不实")
    assert [(t.key, t.state, t.due_at) for t in again] == [
        ("虚假不实/refer", "open", T0 + timedelta(hours=4 + 48))]
    assert {t.key: t.state for t in tasks.list(inc.id)}["错误看法/guide"] == "cancelled"


def test_done_records_who_and_when_and_refusals_are_audited(office):
    desk, tasks, clock, book = office
    inc = desk.open("网传学校围墙倒塌", by="张三")
    set_category(desk, tasks, book, inc.id, "虚假不实")
    clock.advance(hours=50)
    task = tasks.done(inc.id, "虚假不实/refer", by="吴九", note="已移交县公安局网安大队")
    assert (task.state, task.done_by, task.done_at, task.note) == (
        "done", "吴九", T0 + timedelta(hours=50), "已移交县公安局网安大队")
    assert desk.timeline(inc.id)[-1].text == "完成任务：向公安、网信部门移交线索（超期 120 分钟）"
    for key, by, note, error, words in [
            ("虚假不实/refer", "吴九", "again", Refused, "is done by 吴九"),
            ("虚假不实/clarfy", "吴九", "x", NotFound, "did you mean '虚假不实/clarify'"),
            ("虚假不实/clarify", "吴久", "x", Refused, "unknown person '吴久'"),
            ("虚假不实/clarify", "钱二", " ", Refused, "say what was done")]:
        with pytest.raises(error, match=words):
            tasks.done(inc.id, key, by=by, note=note)
    with pytest.raises(NotFound, match="no incident 'INC-1'"):
        tasks.done("INC-1", "虚假不实/refer", by="吴九", note="x")
    desk.close(inc.id, "已澄清", by="王五")
    with pytest.raises(Refused, match="is closed"):
        tasks.done(inc.id, "虚假不实/clarify", by="钱二", note="late")
    rows = [e for e in audit.entries(desk.engine) if e.action.startswith("incident.task")]
    assert [(e.action, e.actor, e.refused, (e.after or {}).get("key")) for e in rows] == [
        ("incident.task_create", "王五", False, "虚假不实/clarify"),
        ("incident.task_create", "王五", False, "虚假不实/refer"),
        ("incident.task_done", "吴九", False, "虚假不实/refer"),
        *[("incident.task_done", who, True, key) for who, key in [
            ("吴九", "虚假不实/refer"), ("吴九", "虚假不实/clarfy"), ("吴久", "虚假不实/clarify"),
            ("钱二", "虚假不实/clarify"), ("吴九", "虚假不实/refer"), ("钱二", "虚假不实/clarify")]]]
    assert rows[2].after == {"key": "虚假不实/refer", "state": "done", "late": True}
    assert all("已移交" not in json.dumps(e.as_dict(), ensure_ascii=False) for e in rows)
    assert audit.verify(desk.engine) == []


def test_overdue_lists_open_tasks_past_due_of_open_incidents(office):
    desk, tasks, clock, book = office
    first = desk.open("网传围墙倒塌", by="张三")
    set_category(desk, tasks, book, first.id, "虚假不实")
    second = desk.open("食堂饭菜质量", by="张三")
    set_category(desk, tasks, book, second.id, "实际困难")
    assert tasks.overdue(T0 + timedelta(hours=23)) == []
    late = tasks.overdue(T0 + timedelta(hours=49))
    assert [(t.incident_id, t.key) for t in late] == [(first.id, "虚假不实/clarify"),
                                                       (first.id, "虚假不实/refer")]
    assert late[0].late(T0 + timedelta(hours=49)) == timedelta(hours=25)
    tasks.done(first.id, "虚假不实/clarify", by="钱二", note="已发布")
    assert [t.key for t in tasks.overdue(T0 + timedelta(days=11))] == [
        "虚假不实/refer", "实际困难/publish"]
    desk.close(first.id, "结案", by="王五")
    assert [t.incident_id for t in tasks.overdue(T0 + timedelta(days=11))] == [second.id]


def test_no_playbook_creates_nothing_but_still_cancels(office, cfg):
    desk, tasks, clock, book = office
    inc = desk.open("传言", by="张三")
    set_category(desk, tasks, book, inc.id, "模糊认识")
    (cfg / "playbook.toml").unlink()
    empty = load_playbook(cfg)
    desk.set_category(inc.id, "错误看法", by="王五", why="改判")
    with audit.transaction(desk.engine) as conn:
        assert tasks.create_for(conn, inc.id, "错误看法", clock(), empty) == []
    assert [(t.key, t.state) for t in tasks.list(inc.id)] == [("模糊认识/release", "cancelled")]


def test_a_failed_transaction_keeps_neither_tasks_nor_audit_rows(office):
    desk, tasks, clock, book = office
    inc = desk.open("传言", by="张三")
    before = len(list(audit.entries(desk.engine)))
    with pytest.raises(RuntimeError):
        with audit.transaction(desk.engine) as conn:
            tasks.create_for(conn, inc.id, "虚假不实", clock(), book)
            raise RuntimeError("the category change failed")
    assert tasks.list(inc.id) == [] and len(list(audit.entries(desk.engine))) == before


# -- the commands --------------------------------------------------------------------------------

def _cli():
    from monitor.cli_incidents import Desk, incidents
    from monitor.cli_tasks import register

    @click.group()
    @click.option("-c", "config_dir")
    @click.pass_context
    def root(ctx, config_dir):
        ctx.obj = Context(config_dir, 0)

    group = click.Group("incidents", commands=dict(incidents.commands))
    if "tasks" not in group.commands:  # not wired into cli_incidents yet
        register(group, Desk)
    root.add_command(group)
    return root


def test_the_tasks_and_task_done_commands(make_config):
    directory = make_config(sources=[])
    shutil.copy(SHIPPED / "org.toml", directory / "org.toml")
    shutil.copy(SHIPPED / "playbook.toml", directory / "playbook.toml")
    root = _cli()

    def run(*args):
        return CliRunner().invoke(root, ["-c", str(directory), "incidents", *args],
                                  env={"MONITOR_USER": "王五"})

    opened = run("open", "网传学校围墙倒塌", "--json")  # the category comes 50 h back below
    assert opened.exit_code == 0, opened.output
    iid = json.loads(opened.output)["id"]
    from monitor.config import load_config

    engine = StateDB(load_config(directory).state_url).engine
    tasks = Tasks(engine)
    with audit.transaction(engine) as conn:
        tasks.create_for(conn, iid, "虚假不实", datetime.now(UTC) - timedelta(hours=50),
                         load_playbook(directory))
    shown = run("tasks", iid)
    assert shown.exit_code == 0, shown.output
    assert "虚假不实/refer" in shown.output and "向公安、网信部门移交线索" in shown.output
    assert shown.output.strip().endswith("2 task(s), 2 open, 2 overdue")
    refused = run("task-done", iid, "虚假不实/refer", "--note", "已移交", "--as", "王七")
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "Error: unknown person '王七'" in refused.output
    done = run("task-done", iid, "虚假不实/clarify", "--note", "已发布澄清", "--as", "钱二")
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"{iid}: 虚假不实/clarify done (回应澄清) by 钱二 at ")
    assert "late" in done.output
    listed = json.loads(run("tasks", iid, "--json").output)
    assert [(t["key"], t["state"], t["done_by"]) for t in listed] == [
        ("虚假不实/clarify", "done", "钱二"), ("虚假不实/refer", "open", None)]
    late = run("tasks", "--overdue")
    assert late.exit_code == 0 and late.output.strip().endswith("1 overdue task(s)")
    assert run("tasks").exit_code == 2


def _office(make_config):
    """A configuration with the shipped org.toml and playbook.toml, and a function running
    ``monitor incidents …`` in it as 王五 (exit 0 checked)."""
    directory = make_config(sources=[])
    shutil.copy(SHIPPED / "org.toml", directory / "org.toml")
    shutil.copy(SHIPPED / "playbook.toml", directory / "playbook.toml")
    root = _cli()

    def run(*args):
        result = CliRunner().invoke(root, ["-c", str(directory), "incidents", *args],
                                    env={"MONITOR_USER": "王五"})
        assert result.exit_code == 0, result.output
        return result.output

    return run


def test_setting_the_category_creates_its_tasks_through_the_command_line(make_config):
    run = _office(make_config)
    iid = json.loads(run("open", "网传学校围墙倒塌", "--category", "错误看法", "--why", "误读",
                         "--json"))["id"]
    assert [t["key"] for t in json.loads(run("tasks", iid, "--json"))] == ["错误看法/guide"]
    run("category", iid, "虚假不实", "--why", "核实为谣言")
    listed = {t["key"]: t["state"] for t in json.loads(run("tasks", iid, "--json"))}
    assert listed == {"错误看法/guide": "cancelled", "虚假不实/clarify": "open",
                      "虚假不实/refer": "open"}


def test_closing_an_incident_cancels_its_open_tasks(make_config):
    run = _office(make_config)
    iid = json.loads(run("open", "网传学校围墙倒塌", "--category", "虚假不实", "--why", "谣言",
                         "--json"))["id"]
    run("close", iid, "--summary", "已澄清并移交线索")
    assert {t["state"] for t in json.loads(run("tasks", iid, "--json"))} == {"cancelled"}
