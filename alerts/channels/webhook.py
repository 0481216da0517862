"""Generic webhook: the whole notice as JSON, optionally signed, to any HTTP receiver.

The body is the message's JSON form (``AlertMessage.to_dict``) plus ``schema``, ``notice_id``,
the Chinese labels and the rendered ``text`` and ``markdown``.  Headers: ``X-Monitor-Alert-Id``,
``X-Monitor-Notice-Id`` (drop a repeat by it) and, with a ``secret``, ``X-Monitor-Signature:
sha256=<hex HMAC-SHA256 of the exact body bytes>``.  A body over ``max_bytes`` loses snippets,
documents and digest parts (counted in ``omitted``) until it fits.

```toml
[duty-system]
type = "webhook"
url = "https://duty.example.gov.cn/hooks/opinion"
secret = "${DUTY_HOOK_SECRET}"               # optional: sign the body
headers = { Authorization = "Bearer ${DUTY_HOOK_TOKEN}" }   # optional extra headers
```
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
from typing import Any
from urllib.parse import quote

from alerts import format as fmt
from alerts.channels import BaseChannel, DeliveryResult, flag, integer, secret, text
from alerts.channels._http import HttpReply, judge_status, json_body, post
from alerts.message import AlertMessage
from alerts.secrets import Secret, redact_url, scrub
from monitor.errors import ConfigError
from monitor.tomlfile import Table

SCHEMA = "monitor.alert/1"


def signature(secret_value: str, body: bytes) -> str:
    """The ``X-Monitor-Signature`` header value for ``body``."""
    return "sha256=" + hmac.new(secret_value.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _ascii(value: str) -> str:
    return quote(value, safe="/:@._-") if not value.isascii() else value


class WebhookChannel(BaseChannel):
    """JSON POST to a URL of the office's choosing."""

    type = "webhook"
    secret_keys = frozenset({"secret"})

    def configure(self, table: Table) -> None:
        raw = table.data.get("url")
        self.url: Secret | str = raw if isinstance(raw, Secret) else text(table, "url",
                                                                          required=True)
        table.used.add("url")
        if not reveal_url(self.url).lower().startswith(("http://", "https://")):
            raise ConfigError("the url must start with http:// or https://", path=table.path,
                              key=table._key("url"))
        self.signing = secret(table, "secret")
        headers = table.get("headers", dict, {})
        for key, value in headers.items():
            if not isinstance(value, (str, Secret)):
                raise ConfigError("header values must be strings", path=table.path,
                                  key=table._key(f"headers.{key}"))
        self.headers: dict[str, Any] = dict(headers)
        self.max_bytes = integer(table, "max_bytes", 256 * 1024, low=1024, high=64 * 1024 * 1024)
        self.ca_file = text(table, "ca_file")
        self.verify_tls = flag(table, "verify_tls", True)

    # -- body -----------------------------------------------------------------------------------

    def body(self, message: AlertMessage) -> bytes:
        """The JSON body, cut down to ``max_bytes`` if it must be."""
        docs, parts = len(message.documents), len(message.parts)
        steps = [(docs, parts, 120), (docs, parts, 0)]
        steps += [(d, parts, 0) for d in range(docs - 1, -1, -1)]
        steps += [(0, p, 0) for p in range(parts - 1, -1, -1)]
        encoded = b""
        for max_docs, max_parts, snippet in steps:
            encoded = json_body(self._payload(message, max_docs, max_parts, snippet))
            if len(encoded) <= self.max_bytes:
                return encoded
        short = dataclasses.replace(message, documents=[], parts=[],
                                    title=message.title[:200], reason=message.reason[:500])
        return json_body({**self._payload(short, 0, 0, 0), "truncated": True,
                          "omitted": {"documents": docs, "parts": parts}})

    def _payload(self, message: AlertMessage, max_docs: int, max_parts: int,
                 snippet: int) -> dict:
        cut = dataclasses.replace(
            message,
            documents=[dataclasses.replace(d, snippet=d.snippet[:snippet] if snippet else "")
                       for d in message.documents[:max_docs]],
            parts=[dataclasses.replace(p, documents=[]) for p in message.parts[:max_parts]])
        notice = fmt.build(message, fmt.RenderOptions(max_docs=max_docs, max_parts=max_parts,
                                                      snippet_chars=snippet))
        data = {"schema": SCHEMA, "notice_id": message.notice_id, **cut.to_dict(),
                "severity_label": message.severity_label, "kind_label": message.kind_label,
                "text": fmt.to_text(notice), "markdown": fmt.to_markdown(notice)}
        omitted = {"documents": len(message.documents) - len(cut.documents),
                   "parts": len(message.parts) - len(cut.parts)}
        if any(omitted.values()):
            data["omitted"] = omitted
        return data

    # -- send -----------------------------------------------------------------------------------

    def send(self, message: AlertMessage) -> DeliveryResult:
        """POST the notice; any 2xx answer is a delivery."""
        try:
            body = self.body(message)
        except Exception as exc:  # noqa: BLE001
            return DeliveryResult.failed(f"cannot build the body: {type(exc).__name__}: {exc}",
                                         retryable=False)
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "X-Monitor-Alert-Id": _ascii(message.alert_id),
                   "X-Monitor-Notice-Id": _ascii(message.notice_id),
                   "X-Monitor-Event": message.kind}
        headers.update({k: v.reveal() if isinstance(v, Secret) else v
                        for k, v in self.headers.items()})
        if self.signing is not None:
            headers["X-Monitor-Signature"] = signature(self.signing.reveal(), body)
        reply = post(reveal_url(self.url), body, headers, timeout=self.timeout,
                     ca_file=self.ca_file, verify=self.verify_tls)
        if isinstance(reply, HttpReply):
            result = judge_status(reply) or DeliveryResult.delivered(
                f"HTTP {reply.status}", status=reply.status)
        else:
            result = reply
        if result.ok:
            return result
        return dataclasses.replace(result, detail=scrub(result.detail, self.secrets()))

    def settings(self) -> dict[str, Any]:
        return {"url": redact_url(reveal_url(self.url)), "signed": self.signing is not None,
                "headers": sorted(self.headers), "max_bytes": self.max_bytes}


def reveal_url(url: Secret | str) -> str:
    """The URL as a string, whether it came from a reference or was written out."""
    return url.reveal() if isinstance(url, Secret) else url
