"""config/channels.toml: one table per channel, secrets by reference, every problem named."""
from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest

from alerts.channels import BaseChannel, DeliveryResult, builtin_channel_types, safe_send
from alerts.channels_config import load_channels
from alerts.secrets import Secret, SecretSource, expand, redact_url
from monitor import hookimpl
from monitor.errors import ConfigError, PluginError
from monitor.plugins import PluginManager

TOKEN = "tok-9f8e7d6c5b4a"
SECRET = "SECa1b2c3d4e5f6g7h8"


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "channels.toml").write_text(text, encoding="utf-8")
    return directory


GOOD = """
[office-dingtalk]
type = "dingtalk"
webhook = "https://oapi.dingtalk.com/robot/send?access_token=${DINGTALK_TOKEN}"
secret = "${DINGTALK_SECRET}"
keywords = ["舆情"]

[duty-log]
type = "log"
"""


def test_good_file_builds_every_channel(tmp_path):
    channels = load_channels(write(tmp_path / "config", GOOD),
                             env={"DINGTALK_TOKEN": TOKEN, "DINGTALK_SECRET": SECRET})
    assert channels.errors == []
    assert sorted(channels.channels) == ["duty-log", "office-dingtalk"]
    ding = channels.get("office-dingtalk")
    assert ding.type == "dingtalk" and ding.limits == ((20, 60.0),)
    assert ding.keywords == ["舆情"]


def test_secrets_never_show_in_repr_describe_or_errors(tmp_path, caplog):
    channels = load_channels(write(tmp_path / "config", GOOD),
                             env={"DINGTALK_TOKEN": TOKEN, "DINGTALK_SECRET": SECRET})
    ding = channels.get("office-dingtalk")
    shown = repr(ding) + str(ding.describe()) + repr(ding.webhook) + str(ding.signing)
    assert TOKEN not in shown and SECRET not in shown
    assert "access_token=***" in shown and "${DINGTALK_SECRET}" in shown
    # a failed send (nothing listens on the port) reports without the token either
    ding.webhook = Secret(f"http://127.0.0.1:9/robot/send?access_token={TOKEN}")
    ding.timeout = 0.5
    with caplog.at_level(logging.DEBUG):
        result = safe_send(ding, __import__("test_channels_format").message())
    assert not result.ok and result.retryable
    assert TOKEN not in result.detail and SECRET not in result.detail
    assert TOKEN not in caplog.text and SECRET not in caplog.text


def test_one_bad_channel_never_stops_the_others(tmp_path):
    text = "not_a_table = 3\n" + GOOD + """
[typo]
type = "dingding"
webhook = "${X}"

[no-type]
webhook = "https://example.cn"

[mail]
type = "email"
host = "smtp.example.cn"
from = "monitor@example.cn"
to = ["duty@example.cn"]
tiemout = 5
"""
    channels = load_channels(write(tmp_path / "config", text),
                             env={"DINGTALK_TOKEN": TOKEN, "DINGTALK_SECRET": SECRET})
    assert sorted(channels.channels) == ["duty-log", "office-dingtalk"]
    messages = [str(e) for e in channels.errors]
    path = str(tmp_path / "config" / "channels.toml")
    assert all(m.startswith(path) for m in messages)
    assert any("[typo.type]" in m and "unknown channel type 'dingding'; did you mean "
               "'dingtalk'?" in m for m in messages)
    assert any("[no-type.type]" in m and "known types: dingtalk, email" in m for m in messages)
    assert any("[mail.tiemout]" in m and "did you mean 'timeout'?" in m for m in messages)
    assert any("[not_a_table]" in m for m in messages)
    with pytest.raises(ConfigError, match="channel 'typo' is not usable: .*dingding"):
        channels.get("typo")
    with pytest.raises(ConfigError, match="unknown channel 'duty-lgo'; did you mean 'duty-log'"):
        channels.get("duty-lgo")


@pytest.mark.parametrize("written, suggestion", [
    ("wechat", "wecom"), ("lark", "feishu"), ("smtp", "email"), ("webhok", "webhook"),
    ("飞书", "feishu"),
])
def test_unknown_type_suggests_the_right_one(tmp_path, written, suggestion):
    channels = load_channels(write(tmp_path / "c", f'[x]\ntype = "{written}"\n'), env={})
    assert f"did you mean {suggestion!r}" in str(channels.errors[0])


def test_unset_secret_names_the_variable_never_a_value(tmp_path):
    channels = load_channels(write(tmp_path / "config", GOOD), env={"DINGTALK_TOKEN": TOKEN})
    (error,) = channels.errors
    assert "[office-dingtalk.secret]" in str(error)
    assert "${DINGTALK_SECRET} is not set: set the environment variable DINGTALK_SECRET" in str(
        error)
    assert TOKEN not in str(error)
    assert "office-dingtalk" not in channels and "duty-log" in channels


def test_empty_secret_is_refused(tmp_path):
    channels = load_channels(write(tmp_path / "config", GOOD),
                             env={"DINGTALK_TOKEN": TOKEN, "DINGTALK_SECRET": ""})
    assert "${DINGTALK_SECRET} is set but empty" in str(channels.errors[0])


def test_a_secret_written_into_the_file_is_refused(tmp_path):
    text = f'[d]\ntype = "dingtalk"\nwebhook = "${{HOOK}}"\nsecret = "{SECRET}"\n'
    channels = load_channels(write(tmp_path / "config", text), env={"HOOK": "https://x.cn/r"})
    (error,) = channels.errors
    assert '[d.secret]: must not be written into the file: write secret = "${DINGTALK_SECRET}"' \
        in str(error)
    assert SECRET not in str(error)


def test_robot_webhook_literal_is_refused_because_it_carries_the_token(tmp_path):
    text = f'[w]\ntype = "wecom"\nwebhook = "https://qyapi.weixin.qq.com/send?key={TOKEN}"\n'
    (error,) = load_channels(write(tmp_path / "config", text), env={}).errors
    assert "[w.webhook]" in str(error) and "${WECOM_WEBHOOK}" in str(error)
    assert TOKEN not in str(error)


def test_secrets_file_outside_the_repository(tmp_path):
    secrets = tmp_path / "etc" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text(f'DINGTALK_TOKEN = "{TOKEN}"\nDINGTALK_SECRET = "{SECRET}"\n')
    secrets.chmod(0o600)
    text = f'secrets_file = "{secrets}"\n' + GOOD
    channels = load_channels(write(tmp_path / "config", text), env={})
    assert channels.errors == []
    assert channels.get("office-dingtalk").signing.reveal() == SECRET
    # the environment wins over the file
    channels = load_channels(tmp_path / "config", env={"DINGTALK_SECRET": "SECfromenv"})
    assert channels.get("office-dingtalk").signing.reveal() == "SECfromenv"
    # and $MONITOR_SECRETS_FILE over secrets_file
    other = tmp_path / "elsewhere.toml"
    other.write_text(f'DINGTALK_TOKEN = "{TOKEN}"\nDINGTALK_SECRET = "SECother"\n')
    other.chmod(0o600)
    channels = load_channels(tmp_path / "config", env={"MONITOR_SECRETS_FILE": str(other)})
    assert channels.get("office-dingtalk").signing.reveal() == "SECother"


def test_secrets_file_inside_a_git_repository_or_the_config_is_refused(tmp_path):
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    inside = repo / "secrets.toml"
    inside.write_text(f'DINGTALK_SECRET = "{SECRET}"\n')
    inside.chmod(0o600)
    source = SecretSource({}, inside)
    with pytest.raises(ConfigError, match="inside the git repository"):
        expand("${DINGTALK_SECRET}", source)
    config = write(tmp_path / "config", GOOD)
    in_config = config / "secrets.toml"
    in_config.write_text(f'DINGTALK_SECRET = "{SECRET}"\n')
    in_config.chmod(0o600)
    with pytest.raises(ConfigError, match="inside the configuration directory"):
        expand("${DINGTALK_SECRET}", SecretSource({}, "secrets.toml", config_dir=config))


def test_secrets_file_writable_by_others_is_refused(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'DINGTALK_SECRET = "{SECRET}"\n')
    secrets.chmod(0o666)
    with pytest.raises(ConfigError, match="writable by other users; run chmod 600") as info:
        expand("${DINGTALK_SECRET}", SecretSource({}, secrets))
    assert SECRET not in str(info.value)


def test_expansion_rules():
    source = SecretSource({"A": "1", "B": "two"})
    assert expand("x${A}y${B}", source) == "x1ytwo"
    assert expand("cost $${A}", source) == "cost ${A}"
    assert expand("${B}", SecretSource({"B": "${A}"})) == "${A}"  # values are not re-expanded
    with pytest.raises(ConfigError, match="not a variable name"):
        expand("${A-B}", source)


def test_disabled_channel_is_skipped_and_says_so(tmp_path):
    channels = load_channels(write(tmp_path / "c", '[quiet]\ntype = "log"\nenabled = false\n'))
    assert channels.channels == {} and channels.disabled == ["quiet"]
    with pytest.raises(ConfigError, match="disabled"):
        channels.get("quiet")


def test_missing_file_is_empty_and_broken_file_is_one_error(tmp_path):
    assert load_channels(tmp_path).channels == {}
    broken = load_channels(write(tmp_path / "c", "[a\n"))
    assert broken.channels == {} and "not valid TOML" in str(broken.errors[0])


def test_redact_url():
    assert redact_url(f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}") == \
        "https://open.feishu.cn/open-apis/bot/v2/hook/***"
    assert redact_url(f"https://u:p@h.cn:8443/a/b?key={TOKEN}&x=1") == \
        "https://h.cn:8443/a/***?key=***&x=***"


def test_secret_is_not_pickled_and_compares_by_value():
    import pickle

    assert Secret("a", "x") == Secret("a", "y") and Secret("a") != Secret("b")
    with pytest.raises(TypeError):
        pickle.dumps(Secret("a"))


# -- plugins add channel types ---------------------------------------------------------------

class PagerChannel(BaseChannel):
    """A plugin's channel type, as a third party would write it."""

    type = "pager"
    secret_keys = frozenset({"token"})

    def configure(self, table):
        from alerts.channels import secret, text

        self.number = text(table, "number", required=True)
        self.token = secret(table, "token", required=True)
        self.sent = []

    def send(self, message):
        self.sent.append(message.alert_id)
        return DeliveryResult.delivered("paged")


class PagerPlugin:
    @hookimpl
    def register_channels(self, register):
        register("pager", PagerChannel)


class ClashPlugin:
    @hookimpl
    def register_channels(self, register):
        register("dingtalk", PagerChannel)


def test_a_plugin_registers_a_channel_type_used_from_the_file(tmp_path):
    pm = PluginManager(disabled=["sentiment_snownlp"], entry_points=False)
    pm.register(PagerPlugin(), name="pager-plugin")
    types = pm.channels()
    assert set(builtin_channel_types()) < set(types) and types["pager"] is PagerChannel
    text = '[boss]\ntype = "pager"\nnumber = "110"\ntoken = "${PAGER_TOKEN}"\n'
    channels = load_channels(write(tmp_path / "c", text), types=types,
                             env={"PAGER_TOKEN": "pt-1"})
    pager = channels.get("boss")
    assert pager.number == "110" and pager.token.reveal() == "pt-1"
    assert safe_send(pager, __import__("test_channels_format").message()).ok
    assert pager.sent == ["al-0001"]


def test_registering_a_built_in_name_names_both(tmp_path):
    pm = PluginManager(disabled=["sentiment_snownlp"], entry_points=False)
    pm.register(ClashPlugin(), name="clash")
    with pytest.raises(PluginError, match="'dingtalk' registered by both 'built-in' and 'clash'"):
        pm.channels()


def test_safe_send_turns_a_raising_channel_into_a_retryable_failure():
    class Broken(PagerChannel):
        def send(self, message):
            raise RuntimeError(f"boom with {self.token.reveal()}")

    broken = Broken("b", {"number": "1", "token": Secret("tok-secret-value")})
    result = safe_send(broken, __import__("test_channels_format").message())
    assert not result.ok and result.retryable
    assert "RuntimeError" in result.detail and "tok-secret-value" not in result.detail


def test_environment_is_untouched():
    assert "DINGTALK_SECRET" not in os.environ or os.environ["DINGTALK_SECRET"] != SECRET


def test_quiet_hours_are_checked_when_the_channel_is_loaded(tmp_path):
    from alerts.channels_config import load_channels

    (tmp_path / "channels.toml").write_text(
        '[ops]\ntype = "log"\nquiet_hours = "22:00-07:00"\n'
        '[bad]\ntype = "log"\nquiet_hours = "late"\n', encoding="utf-8")
    loaded = load_channels(tmp_path)
    assert loaded.get("ops") is not None
    assert [e.key for e in loaded.errors] == ["bad.quiet_hours"]
