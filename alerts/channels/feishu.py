"""Feishu (飞书) custom bot: signed card messages, a request body of at most 20 KB.

Signing (签名校验): ``sign = base64(HMAC-SHA256(key=timestamp + "\\n" + secret, msg=b""))`` with
the timestamp in seconds; ``timestamp`` and ``sign`` go in the JSON body.  The bot takes 100
requests a minute and 5 a second, and answers HTTP 200 with ``code`` ≠ 0 when it refuses one.

```toml
[office-feishu]
type = "feishu"
webhook = "https://open.feishu.cn/open-apis/bot/v2/hook/${FEISHU_HOOK}"
secret = "${FEISHU_SECRET}"   # the bot's 签名校验 secret; leave out if not signed
keywords = ["舆情"]            # the bot's 自定义关键词, if it has any
msg_type = "interactive"      # a card (default), or "text"
```
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from alerts import format as fmt
from alerts.channels import choice, integer
from alerts.channels._http import RobotCodes, json_body
from alerts.channels._robot import RobotChannel
from alerts.message import AlertMessage
from monitor.tomlfile import Table

#: The documented limit on a request body (docs/channels.md): 20 KB.
MAX_BODY = 20_000

CODES = RobotCodes(
    field="code", message_field="msg",
    rate_limited={11232: 60.0},
    final={
        9499: "bad request (payload shape, or larger than 20 KB)",
        19001: "parameter not valid",
        19021: "signature does not match, or the timestamp is more than an hour off",
        19022: "the caller's IP address is not allowed",
        19024: "no security keyword in the message",
        19036: "the message is too large",
    })

TEMPLATES = {"critical": "red", "warning": "orange", "info": "blue"}


def sign(secret: str, timestamp_s: int) -> str:
    """Feishu's signature for ``timestamp_s`` (base64, not URL-encoded: it goes in the body)."""
    key = f"{timestamp_s}\n{secret}".encode("utf-8")
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


class FeishuChannel(RobotChannel):
    """飞书自定义机器人."""

    type = "feishu"
    robot = "Feishu bot"
    codes = CODES
    default_per_minute = 100
    default_per_second = 5

    def configure_robot(self, table: Table) -> None:
        self.msg_type = choice(table, "msg_type", "interactive", ("interactive", "text"))
        self.max_bytes = integer(table, "max_bytes", MAX_BODY, low=1000, high=MAX_BODY)

    def write(self, notice: fmt.Notice) -> str:
        if self.msg_type == "text":
            return self.with_keyword(fmt.to_text(notice))
        # the card's header shows the title; lark_md has no headings
        return self.with_keyword(fmt.to_markdown(notice, heading=False))

    def _unsigned(self, piece: str, title: str, template: str) -> dict:
        if self.msg_type == "text":
            return {"msg_type": "text", "content": {"text": piece}}
        return {"msg_type": "interactive", "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": title},
                       "template": template},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": piece}}]}}

    def fits(self, piece: str) -> bool:
        # measured as sent: card envelope, a 200-character title and the signing fields
        sample = self._unsigned(piece, "标" * 200, "orange")
        sample.update(timestamp="1700000000", sign="x" * 44)
        return len(json_body(sample)) <= self.max_bytes

    def payload(self, piece: str, message: AlertMessage, index: int, total: int) -> dict:
        title = fmt.title_line(message)[:200]
        if total > 1:
            title = f"{title[:190]}（{index}/{total}）"
        template = "green" if message.kind == "resolved" else TEMPLATES[message.severity]
        return self._unsigned(piece, title, template)

    def sign_body(self, body: dict) -> dict:
        if self.signing is None:
            return body
        stamp = int(self.clock())
        return {"timestamp": str(stamp), "sign": sign(self.signing.reveal(), stamp), **body}

    def settings(self) -> dict:
        return {**super().settings(), "msg_type": self.msg_type, "max_bytes": self.max_bytes}
