"""WeCom (企业微信) group robot: markdown up to 4,096 bytes (or text up to 2,048), 20 a minute.

The robot has no signing: its webhook URL's ``key`` is the credential, so the whole URL is a
secret.  It answers HTTP 200 with ``errcode`` ≠ 0 when it refuses a message.

```toml
[office-wecom]
type = "wecom"
webhook = "${WECOM_WEBHOOK}"   # https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…
msgtype = "markdown"           # or "text" (shown in WeChat too; @ people by mobile)
mentioned_mobiles = ["13800000000"]   # text only: @ these people on critical notices
```
"""
from __future__ import annotations

from alerts import format as fmt
from alerts.channels import choice, text_list
from alerts.channels._http import RobotCodes
from alerts.channels._robot import RobotChannel
from alerts.message import AlertMessage
from monitor.tomlfile import Table

#: Documented content limits, in UTF-8 bytes (docs/channels.md).
MARKDOWN_BYTES = 4096
TEXT_BYTES = 2048

CODES = RobotCodes(
    field="errcode", message_field="errmsg",
    rate_limited={45009: 60.0},
    final={
        93000: "the webhook URL (key) is not valid",
        93004: "the robot is disabled or was removed from the group",
        93008: "the robot is not in the group",
        40008: "message type not valid",
        40058: "a field is not valid (for example the content is too long)",
        44004: "the content is empty",
    })


class WeComChannel(RobotChannel):
    """企业微信群机器人."""

    type = "wecom"
    robot = "WeCom robot"
    codes = CODES
    signed = False
    secret_keys = frozenset({"webhook"})
    default_per_minute = 20

    def configure_robot(self, table: Table) -> None:
        self.msgtype = choice(table, "msgtype", "markdown", ("markdown", "text"))
        self.mentioned_mobiles = text_list(table, "mentioned_mobiles")

    def write(self, notice: fmt.Notice) -> str:
        if self.msgtype == "text":
            return self.with_keyword(fmt.to_text(notice))
        return self.with_keyword(fmt.to_markdown(notice))

    def fits(self, piece: str) -> bool:
        limit = MARKDOWN_BYTES if self.msgtype == "markdown" else TEXT_BYTES
        return fmt.utf8_len(piece) <= limit

    def payload(self, piece: str, message: AlertMessage, index: int, total: int) -> dict:
        if self.msgtype == "text":
            mention = message.severity == "critical" and index == total
            return {"msgtype": "text", "text": {
                "content": piece,
                "mentioned_mobile_list": self.mentioned_mobiles if mention else []}}
        return {"msgtype": "markdown", "markdown": {"content": piece}}

    def settings(self) -> dict:
        return {**super().settings(), "msgtype": self.msgtype}
