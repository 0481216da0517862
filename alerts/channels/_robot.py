"""What the three group robots (DingTalk, WeCom, Feishu) share.

A robot is a webhook URL that carries its access token (so the URL is a secret), an optional
signing secret, optional security keywords (a message without one is refused, so one is added),
a size limit (the notice is shortened with a link to the rest, or split into a few pieces) and
error codes in an HTTP 200 body.  Subclasses say how to sign, what the payload looks like and
how to measure it.
"""
from __future__ import annotations

import time
from typing import Any, ClassVar

from alerts import format as fmt
from alerts.channels import (BaseChannel, DeliveryResult, choice, flag, integer, secret, text,
                             text_list)
from alerts.channels._http import HttpReply, RobotCodes, judge_robot, json_body, post
from alerts.message import AlertMessage
from alerts.secrets import Secret, redact_url, scrub
from monitor.errors import ConfigError
from monitor.tomlfile import Table


class RobotChannel(BaseChannel):
    """A group robot reached through one webhook URL."""

    signed: ClassVar[bool] = True
    robot: ClassVar[str] = "robot"
    codes: ClassVar[RobotCodes]
    secret_keys = frozenset({"webhook", "secret"})

    webhook: Secret
    signing: Secret | None

    def configure(self, table: Table) -> None:
        self.webhook = secret(table, "webhook", required=True)
        url = self.webhook.reveal()
        if not url.lower().startswith(("http://", "https://")):
            raise ConfigError("the webhook must be an http:// or https:// URL",
                              path=table.path, key=table._key("webhook"))
        self.signing = secret(table, "secret") if self.signed else None
        self.keywords = text_list(table, "keywords")
        self.overflow = choice(table, "overflow", "shorten", ("shorten", "split"))
        self.max_pieces = integer(table, "max_pieces", 3, low=1, high=10)
        self.ca_file = text(table, "ca_file")
        self.verify_tls = flag(table, "verify_tls", True)
        self.clock = time.time  # signing timestamps; tests may move it
        self.configure_robot(table)

    def configure_robot(self, table: Table) -> None:
        """Read the robot's own options."""

    # -- what subclasses provide ----------------------------------------------------------------

    def write(self, notice: fmt.Notice) -> str:
        """The piece of text one message carries."""
        raise NotImplementedError

    def fits(self, piece: str) -> bool:
        """Whether a message carrying ``piece`` is within the robot's documented limit."""
        raise NotImplementedError

    def payload(self, piece: str, message: AlertMessage, index: int, total: int) -> dict:
        """The JSON body for one piece."""
        raise NotImplementedError

    def target(self) -> str:
        """The URL to post to (a signing robot adds its signature here)."""
        return self.webhook.reveal()

    def sign_body(self, body: dict) -> dict:
        """The body with signing fields added (Feishu signs in the body)."""
        return body

    # -- shared ---------------------------------------------------------------------------------

    def with_keyword(self, piece: str) -> str:
        """``piece``, ending with a security keyword when it has none of them."""
        if not self.keywords or any(k in piece for k in self.keywords):
            return piece
        return f"{piece}\n关键词：{self.keywords[0]}"

    def pieces(self, message: AlertMessage) -> list[str]:
        """The notice as one shortened piece, or split into at most ``max_pieces``."""
        if self.overflow == "split":
            return fmt.split(message, self.write, self.fits, max_pieces=self.max_pieces)
        return [fmt.fit(message, self.write, self.fits)]

    def send(self, message: AlertMessage) -> DeliveryResult:
        """Post the notice (each piece in turn) and read the robot's answer."""
        deadline = time.monotonic() + self.timeout
        try:
            pieces = self.pieces(message)
        except Exception as exc:  # noqa: BLE001 - a notice that cannot be rendered
            return DeliveryResult.failed(f"cannot render the notice: {type(exc).__name__}: "
                                         f"{exc}", retryable=False)
        result = DeliveryResult.failed("nothing sent", retryable=True)
        for index, piece in enumerate(pieces, 1):
            body = json_body(self.sign_body(self.payload(piece, message, index, len(pieces))))
            remaining = max(deadline - time.monotonic(), 0.05)
            reply = post(self.target(), body, {"Content-Type": "application/json; charset=utf-8"},
                         timeout=remaining, ca_file=self.ca_file, verify=self.verify_tls,
                         shown_timeout=self.timeout)
            result = (judge_robot(reply, self.codes, self.robot)
                      if isinstance(reply, HttpReply) else reply)
            if not result.ok:
                where = f"piece {index}/{len(pieces)}: " if len(pieces) > 1 else ""
                return DeliveryResult.failed(
                    scrub(where + result.detail, self.secrets()), retryable=result.retryable,
                    status=result.status, retry_after=result.retry_after, code=result.code)
        if len(pieces) > 1:
            return DeliveryResult.delivered(f"{result.detail} ({len(pieces)} pieces)",
                                            status=result.status)
        return result

    def settings(self) -> dict[str, Any]:
        return {"webhook": redact_url(self.webhook.reveal()),
                "signed": self.signing is not None, "keywords": self.keywords,
                "overflow": self.overflow}
