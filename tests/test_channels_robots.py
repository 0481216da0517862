"""DingTalk, WeCom and Feishu robots against a loopback receiver that checks what they check."""
from __future__ import annotations

import json
import socket
import threading

import pytest

from alerts import format as fmt
from alerts.channels import DeliveryResult
from alerts.channels.dingtalk import DingTalkChannel
from alerts.channels.feishu import FeishuChannel
from alerts.channels.webhook import WebhookChannel
from alerts.channels.wecom import WeComChannel
from alerts.secrets import Secret
from receivers import Receiver, receiver  # noqa: F401 - the fixture
from test_channels_format import doc, message

DING_SECRET = "SEC0123456789abcdef"
FEISHU_SECRET = "fs-secret-42"
TIMEOUT = 0.5


def ding(rx: Receiver, **extra) -> DingTalkChannel:
    table = {"webhook": Secret(rx.url("dingtalk")), "secret": Secret(DING_SECRET),
             "timeout": TIMEOUT, **extra}
    return DingTalkChannel("office-dingtalk", table)


def wecom(rx: Receiver, **extra) -> WeComChannel:
    return WeComChannel("office-wecom", {"webhook": Secret(rx.url("wecom")), "timeout": TIMEOUT,
                                         **extra})


def feishu(rx: Receiver, **extra) -> FeishuChannel:
    table = {"webhook": Secret(rx.url("feishu")), "secret": Secret(FEISHU_SECRET),
             "timeout": TIMEOUT, **extra}
    return FeishuChannel("office-feishu", table)


def hook(rx: Receiver, **extra) -> WebhookChannel:
    return WebhookChannel("duty-hook", {"url": rx.url("webhook"), "timeout": TIMEOUT, **extra})


MAKERS = {"dingtalk": ding, "wecom": wecom, "feishu": feishu, "webhook": hook}


@pytest.fixture
def rx():
    with Receiver(dingtalk_secret=DING_SECRET, feishu_secret=FEISHU_SECRET) as server:
        yield server


def huge():
    return message(documents=[doc(i, snippet="现场视频显示围墙整体向外倒塌" * 20,
                                  title=f"县一中围墙倒塌事件持续发酵 第{i}条") for i in range(10)],
                   count=40)


# -- deliveries -------------------------------------------------------------------------------

def test_dingtalk_signed_markdown_is_accepted(rx):
    result = ding(rx).send(message())
    assert result == DeliveryResult(True, False, "DingTalk robot accepted it", 200)
    (req,) = rx.received
    assert req.accepted and req.problems == []
    assert req.json["msgtype"] == "markdown"
    assert req.json["markdown"]["title"] == "【严重】校园围墙倒塌舆情升温"
    assert "**原因**：2 小时内 12 篇相关报道" in req.text
    assert req.alert_ids == ["al-0001"]
    assert set(req.query) == {"access_token", "timestamp", "sign"}


def test_dingtalk_adds_a_keyword_and_mentions_on_critical_only():
    with Receiver(dingtalk_secret=DING_SECRET, keywords=("舆情通报",)) as rx:
        channel = ding(rx, keywords=["舆情通报"], at_mobiles=["13800000000"])
        assert channel.send(message()).ok
        assert channel.send(message(severity="warning", alert_id="al-2")).ok
        first, second = rx.received
        assert first.accepted and second.accepted
        assert first.json["at"]["atMobiles"] == ["13800000000"] and "@13800000000" in first.text
        assert second.json["at"]["atMobiles"] == [] and "@138" not in second.text


def test_wecom_markdown_and_text_are_accepted(rx):
    assert wecom(rx).send(message()).ok
    assert wecom(rx, msgtype="text").send(message()).ok
    markdown, text = rx.received
    assert markdown.json["msgtype"] == "markdown" and "### 【严重】" in markdown.text
    assert text.json["msgtype"] == "text" and text.text.startswith("【严重】")
    assert all(r.accepted and r.alert_ids == ["al-0001"] for r in rx.received)


def test_feishu_signed_card_is_accepted(rx):
    result = feishu(rx).send(message())
    assert result.ok, result.detail
    (req,) = rx.received
    card = req.json["card"]
    assert card["header"]["title"]["content"] == "【严重】校园围墙倒塌舆情升温"
    assert card["header"]["template"] == "red"
    assert card["elements"][0]["text"]["tag"] == "lark_md"
    assert "###" not in req.text and req.alert_ids == ["al-0001"]
    assert feishu(rx).send(message(kind="resolved", alert_id="al-9")).ok
    assert rx.received[1].json["card"]["header"]["template"] == "green"


def test_feishu_text_and_keywords():
    with Receiver(feishu_secret=FEISHU_SECRET, keywords=("舆情",)) as rx:
        assert feishu(rx, msg_type="text", keywords=["舆情"]).send(message(title="x")).ok
        assert rx.received[0].json["msg_type"] == "text"


# -- size limits --------------------------------------------------------------------------------

def test_wecom_markdown_is_shortened_to_4096_bytes_with_a_link(rx):
    big = huge()
    assert fmt.utf8_len(fmt.to_markdown(fmt.build(big))) > 4096
    assert wecom(rx).send(big).ok
    (req,) = rx.received
    assert req.accepted and len(req.text.encode("utf-8")) <= 4096
    assert "[查看全部](https://monitor.example/a/1)" in req.text


def test_wecom_text_is_shortened_to_2048_bytes(rx):
    assert wecom(rx, msgtype="text").send(huge()).ok
    assert len(rx.received[0].text.encode("utf-8")) <= 2048


def test_wecom_split_sends_pieces_each_within_the_limit_and_each_with_the_id(rx):
    big = message(documents=[doc(i, snippet="现场视频显示围墙倒塌" * 12, title="标题很长" * 25)
                             for i in range(10)])
    result = wecom(rx, overflow="split").send(big)
    assert result.ok and "pieces" in result.detail
    assert len(rx.received) >= 2
    assert all(r.accepted and set(r.alert_ids) == {"al-0001"} for r in rx.received)
    assert all(len(r.text.encode("utf-8")) <= 4096 for r in rx.received)
    assert "【1/" in rx.received[0].text and rx.received[1].text.startswith("【续 2/")


def test_feishu_body_is_kept_under_20_kb(rx):
    big = message(documents=[doc(i, snippet="长" * 2000, title="标题" * 60) for i in range(10)],
                  reason="原因" * 3000)
    assert feishu(rx).send(big).ok
    assert len(rx.received[0].body) <= 20_000


def test_dingtalk_is_shortened_to_its_length(rx):
    assert ding(rx, max_length=1500).send(huge()).ok
    assert len(rx.received[0].text) <= 1500


# -- refusals in an HTTP 200 body ---------------------------------------------------------------

def test_bad_signature_is_not_retryable(rx):
    result = ding(rx, secret=Secret("SECwrong")).send(message())
    assert (result.ok, result.retryable, result.code) == (False, False, "310000")
    assert "sign not match" in result.detail
    result = feishu(rx, secret=Secret("wrong")).send(message())
    assert (result.ok, result.retryable, result.code) == (False, False, "19021")


def test_stale_signing_timestamp_is_refused(rx):
    channel = ding(rx)
    channel.clock = lambda: __import__("time").time() - 7200
    result = channel.send(message())
    assert not result.ok and not result.retryable and result.code == "310000"


def test_keyword_mismatch_is_not_retryable():
    with Receiver(dingtalk_secret=DING_SECRET, feishu_secret=FEISHU_SECRET,
                  keywords=("监控报警",)) as rx:
        result = ding(rx).send(message())
        assert (result.ok, result.retryable) == (False, False)
        assert "keywords not in content" in result.detail
        result = feishu(rx).send(message())
        assert (result.ok, result.retryable, result.code) == (False, False, "19024")


def test_rate_limit_refusals_are_retryable_with_a_wait():
    with Receiver(dingtalk_secret=DING_SECRET, feishu_secret=FEISHU_SECRET,
                  per_minute=2) as rx:
        for make, code, wait in ((ding, "130101", 600.0), (wecom, "45009", 60.0),
                                 (feishu, "11232", 60.0)):
            channel = make(rx)
            assert channel.send(message()).ok and channel.send(message()).ok
            third = channel.send(message())
            assert (third.ok, third.retryable, third.code, third.retry_after) == (
                False, True, code, wait), third


@pytest.mark.parametrize("kind, code, retryable", [
    ("dingtalk", 300001, False), ("dingtalk", 430101, False), ("dingtalk", -1, True),
    ("wecom", 93000, False), ("wecom", 40058, False), ("wecom", -1, True),
    ("feishu", 9499, False), ("feishu", 19022, False), ("feishu", 99991, True),
])
def test_documented_codes_are_mapped(rx, kind, code, retryable):
    rx.behave(f"errcode:{code}", times=1)
    result = MAKERS[kind](rx).send(message())
    assert (result.ok, result.retryable, result.code, result.status) == (
        False, retryable, str(code), 200)


# -- transport failures: every channel the same -----------------------------------------------------

@pytest.mark.parametrize("kind", list(MAKERS))
def test_500_is_retryable(rx, kind):
    rx.behave("status:500", times=1)
    result = MAKERS[kind](rx).send(message())
    assert (result.ok, result.retryable, result.status) == (False, True, 500)
    assert MAKERS[kind](rx).send(message()).ok  # the receiver is back


@pytest.mark.parametrize("kind", list(MAKERS))
def test_4xx_is_not_retryable_but_429_is(rx, kind):
    rx.behave("status:404", times=1)
    result = MAKERS[kind](rx).send(message())
    assert (result.ok, result.retryable, result.status) == (False, False, 404)
    rx.behave("status:429", times=1)
    assert MAKERS[kind](rx).send(message()).retryable


@pytest.mark.parametrize("kind", list(MAKERS))
@pytest.mark.parametrize("mode", ["hang", "trickle"])
def test_a_receiver_that_hangs_or_trickles_times_out_retryable(rx, kind, mode):
    # the receiver answers with a success after 5 s: a send that waited would be "ok"
    rx.behave(mode, times=1)
    result = MAKERS[kind](rx).send(message())
    assert (result.ok, result.retryable) == (False, True)
    assert f"no answer within {TIMEOUT:g} s" in result.detail


@pytest.mark.parametrize("kind", list(MAKERS))
def test_dropped_connection_and_refused_connection_are_retryable(rx, kind):
    rx.behave("close", times=1)
    assert MAKERS[kind](rx).send(message()).retryable
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    closed = Receiver.__new__(Receiver)
    closed.base = f"http://127.0.0.1:{port}"
    result = MAKERS[kind](closed).send(message())
    assert (result.ok, result.retryable) == (False, True)
    assert "connection refused" in result.detail
    assert "tok123" not in result.detail  # the token never shows


def test_a_hanging_robot_never_delays_another(rx):
    """Sends are independent: WeCom delivers while the DingTalk request is still hanging."""
    rx.behave("hang", times=1)
    ding_result: list[DeliveryResult] = []
    slow = threading.Thread(target=lambda: ding_result.append(ding(rx, timeout=1).send(
        message())))
    slow.start()
    assert rx.hang_started.wait(5)
    fast = wecom(rx).send(message(alert_id="al-fast"))
    still_hanging = rx.hanging
    slow.join(10)
    assert fast.ok and still_hanging == 1
    assert [r.alert_ids for r in rx.accepted("wecom")] == [["al-fast"]]
    assert ding_result and not ding_result[0].ok and ding_result[0].retryable


def test_webhook_url_that_redirects_is_not_followed(rx):
    rx.behave("status:302", times=1)
    result = hook(rx).send(message())
    assert (result.ok, result.retryable, result.status) == (False, False, 302)
    assert "redirects are not followed" in result.detail


def test_robot_answer_that_is_not_json_is_retryable(rx):
    class Html(Receiver):
        def check(self, req):
            return 200, "<html>captive portal</html>"

    with Html() as odd:
        result = wecom(odd).send(message())
    assert (result.ok, result.retryable) == (False, True)
    assert "without a JSON result" in result.detail and json.dumps("x")
