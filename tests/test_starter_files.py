"""The shipped configuration: ``config/`` and the ``monitor init`` templates
(``monitor/starter_files/``) are the same files, load cleanly with nothing set in the
environment, and a fresh ``monitor init`` tree passes ``monitor rules check``."""
from __future__ import annotations

import configparser
import fnmatch
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.channels import builtin_channel_types
from alerts.channels_config import build_channel, load_channels
from alerts.rules import RULE_TYPES, load_rules
from alerts.secrets import SecretSource, references
from monitor.cli import cli
from monitor.config import load_config
from monitor.org import load_org
from monitor.starter import starter_files, template, template_names, write_config

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config"


def shipped_names() -> list[str]:
    """The files of config/ that the starter also writes."""
    rules = sorted(f"rules/{p.name}" for p in (SHIPPED / "rules").glob("*.toml"))
    return ["monitor.toml", "channels.toml", "org.toml", "maintenance.toml", "escalation.toml",
            "playbook.toml", *rules]


def test_config_and_the_starter_templates_are_the_same_files():
    assert template_names() == shipped_names()
    for name in template_names():
        assert (SHIPPED / name).read_text(encoding="utf-8") == template(name), (
            f"config/{name} and monitor/starter_files/{name} differ: edit one, copy it over "
            "the other")


def test_shipped_config_loads_cleanly_with_no_environment(monkeypatch):
    for name in ("DINGTALK_TOKEN", "DINGTALK_SECRET", "WECOM_KEY", "FEISHU_HOOK",
                 "FEISHU_SECRET", "SMTP_PASSWORD", "DUTY_HOOK_SECRET", "MONITOR_SECRETS_FILE"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(SHIPPED)
    assert config.timezone == "Asia/Shanghai" and config.source_errors == []
    assert config.run.max_parallel_crawls == 2 and config.run.handoff is True
    channels = load_channels(SHIPPED, env={})
    assert channels.errors == [] and list(channels.channels) == ["log"]
    assert sorted(channels.disabled) == ["duty-dingtalk", "duty-email", "duty-system",
                                         "duty-wecom", "office-feishu"]
    rules, problems = load_rules(SHIPPED)
    assert problems == []
    assert sorted({r.type for r in rules.values()}) == sorted(RULE_TYPES)
    from alerts.maintenance import load_maintenance

    load_maintenance(SHIPPED)  # every window commented out: loads, raises nothing
    org = load_org(SHIPPED)
    assert org.exists and org.chain("值班员") == [("科长", 900.0), ("分管领导", 1800.0),
                                                   ("主要负责人", 3600.0)]
    with_contacts = [r for r in rules.values() if r.contacts]
    assert with_contacts, "the shipped rules show how contacts are used"
    for rule in with_contacts:
        assert org.check(rule.contacts, channels.names()) == [], rule.id
        route = org.route(rule.channels, rule.contacts)
        assert route.channels == ["log"] and len(route.escalation) == 3
        assert route.escalate_after == 900.0


def test_every_example_channel_works_once_enabled_and_its_variables_set(tmp_path):
    channels = load_channels(SHIPPED, env={})
    assert channels.disabled
    for name in channels.disabled:
        raw = {k: v for k, v in channels.tables[name].items() if k != "enabled"}
        needed = {ref for value in raw.values() for ref in
                  (references(value) if isinstance(value, str) else [])}
        assert needed, f"{name}: an example's secrets are ${{NAME}} references"
        env = {ref: f"example-{ref.lower()}" for ref in needed}
        source = SecretSource(env, None, config_dir=tmp_path)
        channel = build_channel(name, raw, path=SHIPPED / "channels.toml", source=source,
                                types=builtin_channel_types())
        assert channel.name == name and channel.type == raw["type"]
    assert sorted(channels.tables[n]["type"] for n in channels.disabled) == [
        "dingtalk", "email", "feishu", "webhook", "wecom"]


def run(*args):
    return CliRunner().invoke(cli, [*map(str, args)])


def test_init_writes_the_starter_and_rules_check_passes(tmp_path):
    tree = tmp_path / "cfg"
    result = run("init", tree)
    assert result.exit_code == 0, result.output
    for name in template_names():
        assert (tree / name).read_text(encoding="utf-8") == template(name)
        assert f"wrote {tree / name}" in result.output
    assert (tree / "sources" / "example-portal.toml").exists()
    check = run("-c", tree, "rules", "check")
    assert check.exit_code == 0, check.output
    assert check.output.strip() == f"{len(shipped_names()) - 6} rule(s) loaded, 0 problem(s)"
    assert load_config(tree).sources["example-portal"].enabled is False
    assert run("-c", tree, "sources", "list").exit_code == 0


def test_init_refuses_to_overwrite_any_starter_file_without_force(tmp_path):
    tree = tmp_path / "cfg"
    tree.mkdir()
    (tree / "org.toml").write_text("# mine\n", encoding="utf-8")
    refused = run("init", tree)
    assert refused.exit_code == 1 and "--force" in refused.output
    assert "org.toml: already exists" in refused.output and "Traceback" not in refused.output
    assert (tree / "org.toml").read_text(encoding="utf-8") == "# mine\n"
    assert not (tree / "monitor.toml").exists()  # nothing written at all
    forced = run("init", tree, "--force")
    assert forced.exit_code == 0, forced.output
    assert (tree / "org.toml").read_text(encoding="utf-8") == template("org.toml")
    again = run("init", tree)
    # every template and the example source exist now: the first is named, the rest counted
    assert again.exit_code == 1
    assert f"and {len(template_names())} more starter file(s)" in again.output


def test_write_config_with_own_sources_writes_only_monitor_toml_and_them(tmp_path):
    write_config(tmp_path, sources=[], disabled=["sentiment_snownlp"], data_dir="store")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monitor.toml", "sources"]
    config = load_config(tmp_path)
    assert config.plugins_disabled == ["sentiment_snownlp"]
    assert config.data_dir == (tmp_path / "store").resolve()
    write_config(tmp_path / "full", sources=[], extras=True)
    assert (tmp_path / "full" / "org.toml").exists()
    assert list((tmp_path / "full" / "sources").iterdir()) == []


def test_rules_check_reports_contacts_that_org_or_channels_do_not_know(tmp_path):
    tree = tmp_path / "cfg"
    run("init", tree)
    rule = tree / "rules" / "high-risk-threshold.toml"
    rule.write_text(rule.read_text(encoding="utf-8").replace(
        'contacts = ["值班员"]', 'contacts = ["值班圆"]'), encoding="utf-8")
    org = tree / "org.toml"
    org.write_text(org.read_text(encoding="utf-8").replace(
        '[contacts."孙七"]\ntitle = "县长（主要负责人）"\nchannels = ["log"]',
        '[contacts."孙七"]\ntitle = "县长（主要负责人）"\nchannels = ["leader-dingtalk"]'),
        encoding="utf-8")
    check = run("-c", tree, "rules", "check")
    assert check.exit_code == 1
    assert (f"{rule}: [contacts]: unknown contact '值班圆'; did you mean '值班员'?"
            in check.output)
    cross = tree / "rules" / "cross-channel.toml"
    assert (f"{cross}: [contacts]: contact '孙七' (role '主要负责人') is reached through "
            "channel 'leader-dingtalk', which channels.toml does not define" in check.output)
    # the rules naming the chain that ends at 孙七: cross-channel, school-safety-match
    assert "8 rule(s) loaded, 3 problem(s) in 3 file(s)" in check.output
    listed = run("-c", tree, "rules", "list")
    assert listed.exit_code == 0 and "unknown contact '值班圆'" in listed.output


def test_rules_check_reports_a_broken_org_file_once(tmp_path):
    tree = tmp_path / "cfg"
    run("init", tree)
    org = tree / "org.toml"
    org.write_text(org.read_text(encoding="utf-8").replace(
        'escalates_to = "主要负责人"', 'escalates_to = "主要负责任"'), encoding="utf-8")
    check = run("-c", tree, "rules", "check")
    assert check.exit_code == 1
    assert (f"{org}: [roles.分管领导.escalates_to]: unknown role '主要负责任'; did you mean "
            "'主要负责人'?" in check.output)
    assert "8 rule(s) loaded, 1 problem(s) in 1 file(s)" in check.output


def test_rules_check_without_channels_file_does_not_check_channel_names(tmp_path):
    tree = tmp_path / "cfg"
    run("init", tree)
    (tree / "channels.toml").unlink()
    check = run("-c", tree, "rules", "check")
    assert check.exit_code == 0 and "0 problem(s)" in check.output


def test_package_data_ships_the_templates():
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    patterns = [p.strip() for p in parser["options.package_data"]["monitor"].split(",")]
    folder = Path(str(starter_files())).relative_to(ROOT / "monitor")
    for name in template_names():
        path = f"{folder.as_posix()}/{name}"
        assert any(fnmatch.fnmatch(path, p) and p.count("/") == path.count("/")
                   for p in patterns), path
