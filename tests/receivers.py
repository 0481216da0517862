"""A loopback HTTP receiver that stands in for the DingTalk, WeCom and Feishu robots and a webhook.

It checks what the robots check — DingTalk's and Feishu's signatures and timestamps, security
keywords, the payload shapes, WeCom's 4,096-byte markdown and Feishu's 20 KB body limits, a
per-minute rate — and answers the way they answer: HTTP 200 with ``errcode`` / ``code`` ≠ 0
when it refuses.  It can also be told to answer 500, to hang (bounded: it answers after
``hang_seconds`` or when closed), to trickle its answer a byte at a time, or to drop the
connection.  The signature checks are written here independently of ``alerts/``.

    with Receiver(dingtalk_secret="SEC…") as rx:
        url = rx.url("dingtalk")
        rx.behave("status:500", times=1)
        ...
        assert [r.alert_ids for r in rx.accepted("dingtalk")]
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

OK = {"dingtalk": {"errcode": 0, "errmsg": "ok"}, "wecom": {"errcode": 0, "errmsg": "ok"},
      "feishu": {"code": 0, "msg": "success", "data": {}}, "webhook": {"ok": True}}
ALERT_ID = re.compile(r"告警编号[：\s]*([A-Za-z0-9_.:/-]+)")


@dataclass
class Received:
    """One request as the receiver saw it, and what it answered."""

    kind: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    answer: Any = None
    problems: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    @property
    def accepted(self) -> bool:
        """True when the receiver answered as the real service does on a delivery."""
        return self.status == 200 and self.answer == OK[self.kind]

    @property
    def text(self) -> str:
        """The human-readable content of the message (markdown, text or card)."""
        data = self.json or {}
        if self.kind == "dingtalk":
            part = data.get(data.get("msgtype"), {})
            return part.get("text") or part.get("content") or ""
        if self.kind == "wecom":
            return data.get(data.get("msgtype"), {}).get("content", "")
        if self.kind == "feishu":
            if data.get("msg_type") == "text":
                return data.get("content", {}).get("text", "")
            card = data.get("card", {})
            return "\n".join(e.get("text", {}).get("content", "")
                             for e in card.get("elements", []))
        return data.get("text", "")

    @property
    def alert_ids(self) -> list[str]:
        """Alert ids the message carries (a header and the body for webhooks)."""
        if self.kind == "webhook":
            return [(self.json or {}).get("alert_id")]
        return ALERT_ID.findall(self.text)


class Receiver:
    """The loopback server; use as a context manager (or through the ``receiver`` fixture)."""

    def __init__(self, *, dingtalk_secret: str | None = None, feishu_secret: str | None = None,
                 webhook_secret: str | None = None, keywords: tuple[str, ...] = (),
                 per_minute: int | None = None, hang_seconds: float = 5.0,
                 webhook_max_bytes: int = 256 * 1024):
        self.dingtalk_secret, self.feishu_secret = dingtalk_secret, feishu_secret
        self.webhook_secret, self.keywords = webhook_secret, tuple(keywords)
        self.per_minute, self.hang_seconds = per_minute, hang_seconds
        self.webhook_max_bytes = webhook_max_bytes
        self.received: list[Received] = []
        self.hanging = 0
        self.hang_started = threading.Event()
        self._script: deque[str] = deque()
        self._default = "ok"
        self._recent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    # -- control ---------------------------------------------------------------------------------

    def url(self, kind: str, token: str = "tok123") -> str:
        """The webhook URL of a robot (or the plain webhook) on this receiver."""
        return {"dingtalk": f"{self.base}/robot/send?access_token={token}",
                "wecom": f"{self.base}/cgi-bin/webhook/send?key={token}",
                "feishu": f"{self.base}/open-apis/bot/v2/hook/{token}",
                "webhook": f"{self.base}/hook/{token}"}[kind]

    def behave(self, mode: str, times: int | None = None) -> None:
        """Answer the next ``times`` requests (all, if None) with ``mode``.

        Modes: ``ok``, ``status:N``, ``hang``, ``trickle``, ``close``, ``errcode:N`` (the
        robot's refusal with that code; ``code`` for Feishu).
        """
        with self._lock:
            if times is None:
                self._default = mode
                self._script.clear()
            else:
                self._script.extend([mode] * times)

    def accepted(self, kind: str | None = None) -> list[Received]:
        """Requests answered as deliveries."""
        return [r for r in self.received if r.accepted and (kind is None or r.kind == kind)]

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "Receiver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- checks ----------------------------------------------------------------------------------

    def _next_mode(self) -> str:
        with self._lock:
            return self._script.popleft() if self._script else self._default

    def _rate_ok(self, kind: str, token: str) -> bool:
        if not self.per_minute:
            return True
        now = time.time()
        with self._lock:
            recent = self._recent.setdefault(f"{kind}:{token}", deque())
            while recent and recent[0] <= now - 60:
                recent.popleft()
            recent.append(now)
            return len(recent) <= self.per_minute

    def _keyword_ok(self, text: str) -> bool:
        return not self.keywords or any(k in text for k in self.keywords)

    def check(self, req: Received) -> tuple[int, Any]:
        """Judge one request as the real service would; returns (status, answer)."""
        data = req.json
        if req.kind == "webhook":
            return self._check_webhook(req, data)
        if not isinstance(data, dict):
            req.problems.append("body is not a JSON object")
            return 400, {"errcode": 40035, "errmsg": "invalid json"}
        if req.kind == "dingtalk":
            return self._check_dingtalk(req, data)
        if req.kind == "wecom":
            return self._check_wecom(req, data)
        return self._check_feishu(req, data)

    def _check_dingtalk(self, req: Received, data: dict) -> tuple[int, Any]:
        if not req.query.get("access_token"):
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        if self.dingtalk_secret:
            stamp, sign = req.query.get("timestamp", ""), req.query.get("sign", "")
            if not stamp.isdigit() or abs(time.time() * 1000 - int(stamp)) > 3600_000:
                return 200, {"errcode": 310000, "errmsg": "invalid timestamp"}
            key = self.dingtalk_secret.encode()
            expected = base64.b64encode(hmac.new(key, f"{stamp}\n{self.dingtalk_secret}"
                                                 .encode(), hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(expected, sign):
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
        kind = data.get("msgtype")
        part = data.get(kind) if isinstance(kind, str) else None
        if kind == "markdown":
            if not (isinstance(part, dict) and isinstance(part.get("title"), str)
                    and isinstance(part.get("text"), str) and part["title"]):
                req.problems.append("markdown needs title and text")
        elif kind == "text":
            if not (isinstance(part, dict) and isinstance(part.get("content"), str)):
                req.problems.append("text needs content")
        else:
            req.problems.append(f"unexpected msgtype {kind!r}")
        if req.problems:
            return 200, {"errcode": 40035, "errmsg": "; ".join(req.problems)}
        if not self._keyword_ok(req.text):
            return 200, {"errcode": 310000, "errmsg": "keywords not in content"}
        if not self._rate_ok("dingtalk", req.query["access_token"]):
            return 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        return 200, OK["dingtalk"]

    def _check_wecom(self, req: Received, data: dict) -> tuple[int, Any]:
        if not req.query.get("key"):
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        kind = data.get("msgtype")
        part = data.get(kind) if isinstance(kind, str) else None
        if kind not in ("markdown", "text") or not isinstance(part, dict) or not isinstance(
                part.get("content"), str):
            req.problems.append("markdown/text needs content")
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        limit = 4096 if kind == "markdown" else 2048
        if len(part["content"].encode("utf-8")) > limit:
            req.problems.append(f"{kind}.content over {limit} bytes")
            return 200, {"errcode": 40058, "errmsg": f"{kind}.content exceed max length {limit}"}
        if not self._rate_ok("wecom", req.query["key"]):
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
        return 200, OK["wecom"]

    def _check_feishu(self, req: Received, data: dict) -> tuple[int, Any]:
        if len(req.body) > 20_000:
            req.problems.append(f"body of {len(req.body)} bytes is over 20 KB")
            return 200, {"code": 9499, "msg": "Bad Request", "data": {}}
        if self.feishu_secret:
            stamp, sign = str(data.get("timestamp", "")), str(data.get("sign", ""))
            key = f"{stamp}\n{self.feishu_secret}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if (not stamp.isdigit() or abs(time.time() - int(stamp)) > 3600
                    or not hmac.compare_digest(expected, sign)):
                return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within "
                                                   "one hour from current time", "data": {}}
        kind = data.get("msg_type")
        if kind == "interactive":
            card = data.get("card")
            ok = (isinstance(card, dict)
                  and isinstance(card.get("header", {}).get("title", {}).get("content"), str)
                  and isinstance(card.get("elements"), list) and card["elements"])
            if not ok:
                req.problems.append("card needs header.title.content and elements")
        elif kind == "text":
            if not isinstance(data.get("content", {}).get("text"), str):
                req.problems.append("text needs content.text")
        else:
            req.problems.append(f"unexpected msg_type {kind!r}")
        if req.problems:
            return 200, {"code": 9499, "msg": "Bad Request", "data": {}}
        if not self._keyword_ok(req.text):
            return 200, {"code": 19024, "msg": "Key Words Not Found"}
        token = req.path.rsplit("/", 1)[-1]
        if not self._rate_ok("feishu", token):
            return 200, {"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]"}
        return 200, OK["feishu"]

    def _check_webhook(self, req: Received, data: Any) -> tuple[int, Any]:
        if len(req.body) > self.webhook_max_bytes:
            req.problems.append(f"body of {len(req.body)} bytes over {self.webhook_max_bytes}")
            return 413, {"error": "too large"}
        if self.webhook_secret:
            expected = "sha256=" + hmac.new(self.webhook_secret.encode(), req.body,
                                            hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, req.headers.get("x-monitor-signature", "")):
                return 401, {"error": "bad signature"}
        if not isinstance(data, dict):
            req.problems.append("body is not a JSON object")
            return 400, {"error": "not JSON"}
        for key in ("schema", "alert_id", "notice_id", "kind", "severity", "title", "fired_at",
                    "text"):
            if key not in data:
                req.problems.append(f"missing {key}")
        if unquote(req.headers.get("x-monitor-alert-id", "")) != data.get("alert_id"):
            req.problems.append("X-Monitor-Alert-Id differs from the body's alert_id")
        if req.problems:
            return 400, {"error": "; ".join(req.problems)}
        return 200, OK["webhook"]

    # -- the HTTP side ---------------------------------------------------------------------------

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                kind = ("dingtalk" if parts.path.startswith("/robot/") else
                        "wecom" if parts.path.startswith("/cgi-bin/") else
                        "feishu" if parts.path.startswith("/open-apis/") else "webhook")
                req = Received(kind, parts.path,
                               {k: v[0] for k, v in parse_qs(parts.query).items()},
                               {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    receiver.received.append(req)
                mode = receiver._next_mode()
                if mode == "close":
                    self.close_connection = True
                    self.connection.close()
                    return
                if mode == "hang":
                    with receiver._lock:
                        receiver.hanging += 1
                    receiver.hang_started.set()
                    receiver._stop.wait(receiver.hang_seconds)
                    with receiver._lock:
                        receiver.hanging -= 1
                if mode.startswith("status:"):
                    status, answer = int(mode.split(":")[1]), {"error": "scripted"}
                elif mode.startswith("errcode:"):
                    code = int(mode.split(":")[1])
                    status = 200
                    answer = ({"code": code, "msg": "scripted refusal", "data": {}}
                              if kind == "feishu" else {"errcode": code, "errmsg": "scripted"})
                else:
                    status, answer = receiver.check(req)
                req.status, req.answer = status, answer
                payload = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if mode == "trickle":
                        deadline = time.monotonic() + receiver.hang_seconds
                        step = receiver.hang_seconds / max(len(payload), 1)
                        for byte in payload:
                            if receiver._stop.wait(step) or time.monotonic() > deadline + 1:
                                return
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                    else:
                        self.wfile.write(payload)
                except OSError:
                    pass  # the sender gave up (timeout): that is what some tests check

        return Handler


@pytest.fixture
def receiver():
    """A running :class:`Receiver` with no secrets; closed after the test."""
    with Receiver() as rx:
        yield rx
