"""The generic webhook (JSON, HMAC header) and the log channel."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging

from alerts.channels.log import LogChannel
from alerts.channels.webhook import WebhookChannel, signature
from alerts.channels_config import load_channels
from alerts.message import AlertMessage, make_digest
from alerts.secrets import Secret
from receivers import Receiver
from test_channels_format import doc, message


def hook(rx: Receiver, **extra) -> WebhookChannel:
    return WebhookChannel("duty-hook", {"url": rx.url("webhook"), "timeout": 0.5, **extra})


def test_webhook_posts_the_whole_notice_signed():
    with Receiver(webhook_secret="whsec-1") as rx:
        result = hook(rx, secret=Secret("whsec-1"),
                      headers={"Authorization": Secret("Bearer t-1")}).send(message())
        assert result.ok and result.status == 200
        (req,) = rx.received
    body = req.json
    assert body["schema"] == "monitor.alert/1"
    assert body["notice_id"] == message().notice_id
    assert body["severity_label"] == "严重" and body["kind_label"] == "告警"
    assert body["text"].startswith("【严重】校园围墙倒塌舆情升温")
    assert body["markdown"].startswith("### 【严重】")
    again = AlertMessage.from_dict({k: v for k, v in body.items() if k in message().to_dict()})
    assert again == message()
    assert req.headers["x-monitor-alert-id"] == "al-0001"
    assert req.headers["x-monitor-notice-id"] == message().notice_id
    assert req.headers["x-monitor-event"] == "firing"
    assert req.headers["authorization"] == "Bearer t-1"
    expected = "sha256=" + hmac.new(b"whsec-1", req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-monitor-signature"] == expected == signature("whsec-1", req.body)


def test_webhook_with_the_wrong_secret_is_refused_for_good():
    with Receiver(webhook_secret="right") as rx:
        result = hook(rx, secret=Secret("wrong")).send(message())
    assert (result.ok, result.retryable, result.status) == (False, False, 401)


def test_webhook_body_is_cut_to_max_bytes_and_says_what_it_left_out():
    big = make_digest([message(alert_id=f"al-{i}", documents=[
        doc(j, snippet="摘要" * 300) for j in range(10)]) for i in range(20)])
    with Receiver(webhook_max_bytes=6000) as rx:
        result = hook(rx, max_bytes=6000).send(big)
        assert result.ok, result.detail
        (req,) = rx.received
    assert len(req.body) <= 6000
    assert req.json["omitted"]["parts"] > 0 and req.json["alert_id"] == big.alert_id
    assert req.json["count"] == 20


def test_webhook_non_ascii_alert_id_travels_in_a_header():
    with Receiver() as rx:
        assert hook(rx).send(message(alert_id="告警-1")).ok
        header = rx.received[0].headers["x-monitor-alert-id"]
    assert header == "%E5%91%8A%E8%AD%A6-1"


def test_webhook_url_from_a_reference_is_redacted(tmp_path):
    (tmp_path / "channels.toml").write_text(
        '[h]\ntype = "webhook"\nurl = "https://hooks.example.cn/in/${HOOK_ID}"\n'
        'secret = "${HOOK_SECRET}"\n', encoding="utf-8")
    channels = load_channels(tmp_path, env={"HOOK_ID": "abc123secret", "HOOK_SECRET": "s3cret"})
    shown = repr(channels.get("h"))
    assert "abc123secret" not in shown and "s3cret" not in shown
    assert "https://hooks.example.cn/in/***" in shown


# -- log ---------------------------------------------------------------------------------------

def test_log_channel_logs_at_the_severity_level(caplog):
    channel = LogChannel("duty-log", {})
    with caplog.at_level(logging.DEBUG, logger="monitor.alerts"):
        assert channel.send(message(severity="critical")).ok
        assert channel.send(message(severity="info", alert_id="al-2")).ok
    levels = [r.levelno for r in caplog.records if r.name == "monitor.alerts"]
    assert levels == [logging.CRITICAL, logging.INFO]
    assert "[duty-log] 【严重】校园围墙倒塌舆情升温 | 规则：" in caplog.text


def test_log_channel_appends_json_lines_beside_the_config(tmp_path):
    (tmp_path / "channels.toml").write_text('[record]\ntype = "log"\nfile = "out/alerts.jsonl"\n'
                                            'level = "warning"\n', encoding="utf-8")
    channel = load_channels(tmp_path).get("record")
    assert channel.send(message()).ok and channel.send(message(kind="resolved")).ok
    lines = (tmp_path / "out" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["message"]["kind"] for r in rows] == ["firing", "resolved"]
    assert rows[0]["notice_id"] == message().notice_id
    assert AlertMessage.from_dict(rows[0]["message"]) == message()


def test_log_channel_that_cannot_write_is_retryable(tmp_path):
    (tmp_path / "blocked").mkdir()
    channel = LogChannel("x", {"file": str(tmp_path / "blocked")})  # a directory, not a file
    result = channel.send(message())
    assert (result.ok, result.retryable) == (False, True)
    assert "cannot write" in result.detail
