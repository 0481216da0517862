"""DingTalk (钉钉) custom group robot: signed markdown messages, paced to 20 a minute.

Signing (加签): ``sign = urlencode(base64(HMAC-SHA256(key=secret, msg=timestamp + "\\n" +
secret)))`` with the timestamp in milliseconds, appended to the webhook URL as
``&timestamp=…&sign=…``; the robot refuses a timestamp more than an hour off.  The robot answers
HTTP 200 with ``errcode`` ≠ 0 when it refuses a message; the codes are read below.

```toml
[office-dingtalk]
type = "dingtalk"
webhook = "https://oapi.dingtalk.com/robot/send?access_token=${DINGTALK_TOKEN}"
secret = "${DINGTALK_SECRET}"      # the robot's 加签 secret (SEC…); leave out if not signed
keywords = ["舆情"]                 # the robot's 自定义关键词, if it has any
at_mobiles = ["13800000000"]       # @ these people on critical notices
```
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus

from alerts import format as fmt
from alerts.channels import choice, flag, integer, text_list
from alerts.channels._http import RobotCodes
from alerts.channels._robot import RobotChannel
from alerts.message import SEVERITIES, AlertMessage, severity_rank
from monitor.tomlfile import Table

#: 20 a minute per robot, then refused for 10 minutes (docs/channels.md).
RATE_LIMIT_WAIT = 600.0

CODES = RobotCodes(
    field="errcode", message_field="errmsg",
    rate_limited={130101: RATE_LIMIT_WAIT, 410100: RATE_LIMIT_WAIT},
    final={
        310000: "security check failed: signature, timestamp, keyword or IP allow-list "
                "(see errmsg)",
        300001: "the access token does not exist",
        400101: "the access token does not exist",
        400102: "the robot is disabled",
        400105: "message type not supported",
        400106: "the robot does not exist",
        430101: "the message contains an unsafe link",
        430102: "the message contains unsuitable text",
        430103: "the message contains an unsuitable image",
        430104: "the message contains unsuitable content",
    })


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature for ``timestamp_ms``, already URL-encoded."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode("utf-8"),
                      hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


class DingTalkChannel(RobotChannel):
    """钉钉自定义机器人."""

    type = "dingtalk"
    robot = "DingTalk robot"
    codes = CODES
    default_per_minute = 20

    def configure_robot(self, table: Table) -> None:
        self.max_length = integer(table, "max_length", 5000, low=200, high=20000)
        self.at_mobiles = text_list(table, "at_mobiles")
        self.at_all = flag(table, "at_all", False)
        self.mention_from = choice(table, "mention_severity", "critical", tuple(SEVERITIES))

    def target(self) -> str:
        url = self.webhook.reveal()
        if self.signing is None:
            return url
        stamp = int(self.clock() * 1000)
        joiner = "&" if "?" in url else "?"
        return f"{url}{joiner}timestamp={stamp}&sign={sign(self.signing.reveal(), stamp)}"

    def write(self, notice: fmt.Notice) -> str:
        # DingTalk's markdown joins single line breaks: paragraphs keep the fields apart
        return self.with_keyword(fmt.to_markdown(notice, newline="\n\n"))

    def fits(self, piece: str) -> bool:
        return len(piece) + 16 * len(self.at_mobiles) <= self.max_length

    def _mentions(self, message: AlertMessage) -> bool:
        return severity_rank(message.severity) >= severity_rank(self.mention_from)

    def payload(self, piece: str, message: AlertMessage, index: int, total: int) -> dict:
        mention = self._mentions(message) and index == total
        body = piece
        if mention and self.at_mobiles:
            body += "\n\n" + " ".join(f"@{m}" for m in self.at_mobiles)
        title = fmt.title_line(message)
        return {"msgtype": "markdown",
                "markdown": {"title": title[:64], "text": body},
                "at": {"atMobiles": self.at_mobiles if mention else [],
                       "isAtAll": bool(mention and self.at_all)}}

    def settings(self) -> dict:
        return {**super().settings(), "max_length": self.max_length,
                "at_mobiles": len(self.at_mobiles), "at_all": self.at_all}
