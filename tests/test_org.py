"""``config/org.toml``: contacts, roles and escalation chains loaded, routed and checked; every
bad input is a ConfigError naming the file and the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.org import Org, Route, load_org

ORG = """
[contacts."张三"]
title = "值班员"
phone = "0000-1"
channels = ["duty-ding", "duty-mail"]

[contacts."李四"]
channels = ["duty-ding"]

[contacts."王五"]
email = "wangwu@example.gov.cn"
channels = ["chief-mail"]

[contacts."赵六"]
channels = ["leader-ding"]

[contacts."周八"]
channels = ["press-ding"]

[contacts."无渠道"]
title = "只用于 --as 的人"

[roles."值班员"]
contacts = ["张三", "李四"]
escalates_to = "科长"
escalate_after_minutes = 15

[roles."科长"]
contacts = ["王五"]
channels = ["office-group"]
escalates_to = "主要负责人"
escalate_after_minutes = 30

[roles."主要负责人"]
contacts = ["赵六"]

[roles."宣传部"]
contacts = ["周八"]
escalates_to = "主要负责人"
escalate_after_minutes = 5

[roles."空岗"]
contacts = ["无渠道"]

[units."示例县"]
title = "示例县人民政府"

[units."柳河镇"]
parent = "示例县"
"""
KNOWN = ["duty-ding", "duty-mail", "chief-mail", "leader-ding", "press-ding", "office-group"]


def org_dir(tmp_path: Path, text: str = ORG) -> Path:
    (tmp_path / "org.toml").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.fixture
def org(tmp_path) -> Org:
    return load_org(org_dir(tmp_path))


def test_contacts_roles_and_units_are_loaded(org):
    assert list(org.roles) == ["值班员", "科长", "主要负责人", "宣传部", "空岗"]
    zhang = org.contacts["张三"]
    assert (zhang.title, zhang.phone, zhang.channels) == ("值班员", "0000-1",
                                                          ["duty-ding", "duty-mail"])
    assert org.contacts["王五"].email == "wangwu@example.gov.cn"
    duty = org.roles["值班员"]
    assert (duty.escalates_to, duty.escalate_after) == ("科长", 900.0)
    assert org.roles["主要负责人"].escalates_to is None
    assert org.channels_of("值班员") == ["duty-ding", "duty-mail"]
    assert org.channels_of("科长") == ["office-group", "chief-mail"]  # the role's own first
    assert org.chain("值班员") == [("科长", 900.0), ("主要负责人", 1800.0)]
    assert org.ancestors("柳河镇") == ["柳河镇", "示例县"]
    assert org.units["柳河镇"].parent == "示例县" and org.units["示例县"].parent is None


def test_route_of_a_role_follows_its_chain(org):
    route = org.route(["log"], ["值班员"])
    assert route == Route(channels=["log", "duty-ding", "duty-mail"],
                          escalation=[["office-group", "chief-mail"], ["leader-ding"]],
                          escalate_after=900.0, step_after=[900.0, 1800.0],
                          people=[["值班员"], ["科长"], ["主要负责人"]])


def test_route_of_several_roles_merges_their_chains_step_by_step(org):
    route = org.route([], ["值班员", "宣传部", "王五"])
    assert route.channels == ["duty-ding", "duty-mail", "press-ding", "chief-mail"]
    # step 1: 值班员 → 科长 (15 min) and 宣传部 → 主要负责人 (5 min); step 2: 科长 → 主要负责人
    assert route.escalation == [["office-group", "chief-mail", "leader-ding"], ["leader-ding"]]
    assert route.step_after == [300.0, 1800.0]
    assert route.escalate_after == 300.0
    assert route.people[1] == ["科长", "主要负责人"]


def test_route_of_a_person_or_the_top_role_does_not_escalate(org):
    assert org.route(["log"], ["李四"]) == Route(["log", "duty-ding"], [], None, [], [["李四"]])
    top = org.route([], ["主要负责人"])
    assert (top.channels, top.escalation, top.escalate_after) == (["leader-ding"], [], None)


def test_route_keeps_each_channel_once_and_leaves_unknown_names_out(org):
    route = org.route(["duty-ding", "log", "log"], ["张三", "值班圆", "李四"])
    assert route.channels == ["duty-ding", "log", "duty-mail"]
    assert route.escalation == [] and route.people == [["张三", "李四"]]


def test_no_file_is_an_empty_org_that_routes_only_the_rule_channels(tmp_path):
    org = load_org(tmp_path)
    assert not org.exists and org.roles == {} and org.contacts == {}
    route = org.route(["log", "duty"], ["值班员"])
    assert (route.channels, route.escalation, route.escalate_after) == (["log", "duty"], [], None)
    assert org.check(["值班员"], ["log"]) == [
        f"unknown contact '值班员' ({tmp_path / 'org.toml'} does not exist)"]
    assert org.check([], ["log"]) == []


def test_check_clean_contacts(org):
    assert org.check(["值班员", "宣传部", "王五"], KNOWN) == []
    assert org.check(["值班员"], None) == []  # channel names not checked


def test_check_unknown_contact_suggests_the_close_name(org):
    assert org.check(["值班圆"], KNOWN) == ["unknown contact '值班圆'; did you mean '值班员'?"]
    assert org.check(["nobody"], KNOWN) == ["unknown contact 'nobody'"]


def test_check_names_every_unknown_channel_on_the_whole_chain(org):
    known = [c for c in KNOWN if c not in ("duty-mail", "leader-ding")] + ["leader-dingtalk"]
    problems = org.check(["值班员"], known)
    assert problems == [
        "contact '张三' (role '值班员') is reached through channel 'duty-mail', which "
        "channels.toml does not define; did you mean 'duty-ding'?",
        "contact '赵六' (role '主要负责人') is reached through channel 'leader-ding', which "
        "channels.toml does not define; did you mean 'leader-dingtalk'?"]
    assert org.check(["科长"], ["chief-mail", "leader-ding"]) == [
        "role '科长' is reached through channel 'office-group', which channels.toml does not "
        "define; channels defined: chief-mail, leader-ding"]
    assert org.check(["王五"], []) == [
        "contact '王五' is reached through channel 'chief-mail', which channels.toml does not "
        "define; channels defined: none"]


def test_check_someone_who_reaches_no_channel(org):
    assert org.check(["无渠道"], KNOWN) == [
        "contact '无渠道' has no channels in org.toml; nobody would be told"]
    assert org.check(["空岗"], KNOWN) == [
        "role '空岗' has no channels in org.toml; nobody would be told"]
    assert org.route(["log"], ["空岗"]).channels == ["log"]


def test_a_list_of_one_may_be_written_as_a_string(tmp_path):
    org = load_org(org_dir(tmp_path, '[contacts.a]\nchannels = "log"\n'
                                     '[roles.r]\ncontacts = "a"\n'))
    assert org.roles["r"].contacts == ["a"] and org.contacts["a"].channels == ["log"]


PERSON = '[contacts."张三"]\nchannels = ["log"]\n'
ROLE = '[roles."值班员"]\ncontacts = ["张三"]\n'


@pytest.mark.parametrize("text, key, words", [
    # escalation
    (PERSON + ROLE + 'escalates_to = "科常"\nescalate_after_minutes = 5\n'
     '[roles."科长"]\ncontacts = ["张三"]\n',
     "roles.值班员.escalates_to", "unknown role '科常'; did you mean '科长'?"),
    (PERSON + ROLE + 'escalates_to = "张三"\nescalate_after_minutes = 5\n',
     "roles.值班员.escalates_to", "that is a contact"),
    (PERSON + ROLE + 'escalates_to = "科长"\nescalate_after_minutes = 5\n'
     '[roles."科长"]\ncontacts = ["张三"]\nescalates_to = "值班员"\nescalate_after_minutes = 5\n',
     "roles.科长.escalates_to", "circle: 值班员 → 科长 → 值班员"),
    (PERSON + ROLE + 'escalates_to = "值班员"\nescalate_after_minutes = 5\n',
     "roles.值班员.escalates_to", "circle: 值班员 → 值班员"),
    (PERSON + '[roles.a]\ncontacts = ["张三"]\nescalates_to = "b"\nescalate_after_minutes = 1\n'
     '[roles.b]\ncontacts = ["张三"]\nescalates_to = "c"\nescalate_after_minutes = 1\n'
     '[roles.c]\ncontacts = ["张三"]\nescalates_to = "b"\nescalate_after_minutes = 1\n',
     "roles.c.escalates_to", "circle: b → c → b"),
    (PERSON + ROLE + 'escalates_to = ""\n', "roles.值班员.escalates_to", "expected a role name"),
    (PERSON + ROLE + 'escalates_to = "值班员"\n', "roles.值班员.escalate_after_minutes",
     "missing; say after how many minutes"),
    (PERSON + ROLE + 'escalate_after_minutes = 5\n', "roles.值班员.escalate_after_minutes",
     "no effect without escalates_to"),
    (PERSON + ROLE + 'escalates_to = "值班员"\nescalate_after_minutes = 0\n',
     "roles.值班员.escalate_after_minutes", "more than 0, got 0"),
    (PERSON + ROLE + 'escalates_to = "值班员"\nescalate_after_minutes = -5\n',
     "roles.值班员.escalate_after_minutes", "more than 0"),
    (PERSON + ROLE + 'escalates_to = "值班员"\nescalate_after_minutes = nan\n',
     "roles.值班员.escalate_after_minutes", "more than 0"),
    (PERSON + ROLE + 'escalates_to = "值班员"\nescalate_after_minutes = "15"\n',
     "roles.值班员.escalate_after_minutes", "expected a number, got '15'"),
    (PERSON + ROLE + 'escalates_to = ["科长"]\n', "roles.值班员.escalates_to",
     "expected a string"),
    # who belongs to a role
    (PERSON + '[roles."值班员"]\ncontacts = ["张山"]\n', "roles.值班员.contacts",
     "unknown contact '张山'; did you mean '张三'? (define it as [contacts.\"张山\"])"),
    (PERSON + ROLE + '[roles."科长"]\ncontacts = ["值班员"]\n', "roles.科长.contacts",
     "a role lists contacts, not other roles"),
    (PERSON + '[roles."值班员"]\ncontacts = []\n', "roles.值班员.contacts",
     "needs contacts or channels"),
    (PERSON + '[roles."值班员"]\ncontacts = [1]\n', "roles.值班员.contacts",
     "expected a list of non-empty names, got 1"),
    (PERSON + '[roles."值班员"]\ncontacts = ["  "]\n', "roles.值班员.contacts",
     "non-empty names"),
    (PERSON + '[roles."张三"]\ncontacts = ["张三"]\n', "roles.张三",
     "both a role and a contact"),
    # contacts
    ('[contacts."张三"]\nchannels = ["log", 2]\n', "contacts.张三.channels",
     "expected a list of non-empty names, got 2"),
    ('[contacts."张三"]\nchannels = {a = 1}\n', "contacts.张三.channels",
     "expected a list or a string"),
    ('[contacts."张三"]\nemail = "zhangsan"\n', "contacts.张三.email", "not an e-mail address"),
    ('[contacts."张三"]\ntitle = "a\\nb"\n', "contacts.张三.title", "one line"),
    ('[contacts."张三"]\nphone = 12345\n', "contacts.张三.phone", "expected a string"),
    ('[contacts."张三"]\nchanels = ["log"]\n', "contacts.张三.chanels",
     "unknown key; did you mean 'channels'?"),
    ('[contacts]\n"张三" = "log"\n', "contacts.张三", "expected a table"),
    ('contacts = ["张三"]\n', "contacts", "expected a table"),
    ('[contacts."  "]\nchannels = ["log"]\n', "contacts.'  '", "visible text"),
    (PERSON + '[roles."值班员"]\ncontacts = ["张三"]\nescalate = "科长"\n', "roles.值班员.escalate",
     "unknown key; did you mean 'escalates_to'?"),
    # the file's top level
    (PERSON + '[role."值班员"]\ncontacts = ["张三"]\n', "role", "did you mean 'roles'?"),
    # units (the seam for jurisdictions)
    ('[units."柳河镇"]\nparent = "示例具"\n[units."示例县"]\n', "units.柳河镇.parent",
     "unknown unit '示例具'; did you mean '示例县'?"),
    ('[units.a]\nparent = "b"\n[units.b]\nparent = "a"\n', "units.b.parent",
     "units go round in a circle: a → b → a"),
    ('[units.a]\nparents = "b"\n', "units.a.parents", "did you mean 'parent'?"),
])
def test_bad_org_file_names_the_file_and_key(tmp_path, text, key, words):
    with pytest.raises(ConfigError) as info:
        load_org(org_dir(tmp_path, text))
    assert info.value.key == key
    assert words in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "org.toml"))
    assert "\n" not in str(info.value)


def test_file_that_is_not_toml_or_not_a_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_org(org_dir(tmp_path, "[roles\n"))
    (tmp_path / "org.toml").unlink()
    (tmp_path / "org.toml").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        load_org(tmp_path)
