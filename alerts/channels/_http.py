"""One HTTP POST with a deadline for the whole exchange, and how to read the answer.

``urllib``'s timeout applies to each socket operation, so a receiver that trickles its answer a
byte at a time can hold a send for ever.  :func:`post` gives the connection, the request and the
answer one deadline together.  Nothing here names the URL's path or query in a message: robot
URLs carry access tokens.
"""
from __future__ import annotations

import email.utils
import http.client
import json
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from alerts.channels import DeliveryResult

USER_AGENT = "gov-opinion-monitor-alerts/1"
MAX_ANSWER = 64 * 1024


@dataclass
class HttpReply:
    """An HTTP answer: status, headers (lower-case names) and up to 64 KiB of body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8", "replace"))
        except ValueError:
            return None

    def snippet(self, limit: int = 200) -> str:
        """The start of the body as one line of text."""
        text = " ".join(self.body.decode("utf-8", "replace").split())
        return text if len(text) <= limit else text[:limit] + "…"


def _context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float,
         ca_file: str | None = None, verify: bool = True,
         shown_timeout: float | None = None) -> HttpReply | DeliveryResult:
    """POST ``body`` to ``url``; the answer, or a failed DeliveryResult if none came in time.

    ``timeout`` bounds the whole exchange; ``shown_timeout`` is the figure named in a timeout
    message (the channel's own, when ``timeout`` is what was left of it).
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return DeliveryResult.failed("the URL is not valid", retryable=False)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return DeliveryResult.failed("the URL must start with http:// or https://",
                                     retryable=False)
    where = f"POST {host}:{port or (443 if scheme == 'https' else 80)}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + timeout

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    conn: http.client.HTTPConnection | None = None
    try:
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=left(),
                                               context=_context(ca_file, verify))
        else:
            conn = http.client.HTTPConnection(host, port, timeout=left())
        conn.connect()
        sock = conn.sock  # kept: the response reads through it after conn lets go of it
        sock.settimeout(left())
        conn.request("POST", target, body=body, headers={
            "User-Agent": USER_AGENT, "Content-Length": str(len(body)), **headers})
        sock.settimeout(left())
        response = conn.getresponse()
        chunks, size = [], 0
        while size < MAX_ANSWER:
            sock.settimeout(left())
            chunk = response.read1(8192)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return HttpReply(response.status, {k.lower(): v for k, v in response.getheaders()},
                         b"".join(chunks)[:MAX_ANSWER])
    except (TimeoutError, socket.timeout):
        return DeliveryResult.failed(f"{where}: no answer within "
                                     f"{shown_timeout or timeout:g} s",
                                     retryable=True)
    except ConnectionRefusedError:
        return DeliveryResult.failed(f"{where}: connection refused", retryable=True)
    except ssl.SSLCertVerificationError as exc:
        return DeliveryResult.failed(f"{where}: TLS certificate not trusted "
                                     f"({exc.verify_message}); set ca_file", retryable=False)
    except socket.gaierror as exc:
        return DeliveryResult.failed(f"{where}: cannot resolve the host ({exc.strerror})",
                                     retryable=True)
    except (http.client.HTTPException, OSError) as exc:
        return DeliveryResult.failed(f"{where}: {type(exc).__name__} "
                                     f"{getattr(exc, 'strerror', None) or exc}".strip(),
                                     retryable=True)
    except (ValueError, UnicodeError) as exc:  # e.g. a header with a newline in it
        return DeliveryResult.failed(f"{where}: request not sendable ({exc})", retryable=False)
    finally:
        if conn is not None:
            conn.close()


def retry_after(reply: HttpReply) -> float | None:
    """Seconds from a Retry-After header (number or HTTP date), or None."""
    value = reply.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def judge_status(reply: HttpReply) -> DeliveryResult | None:
    """None for a 2xx answer; otherwise the failure its status means."""
    status = reply.status
    if 200 <= status < 300:
        return None
    said = reply.snippet()
    if status in (408, 425, 429):
        return DeliveryResult.failed(f"HTTP {status} (try later): {said}", retryable=True,
                                     status=status, retry_after=retry_after(reply))
    if 300 <= status < 400:
        return DeliveryResult.failed(f"HTTP {status}: the receiver moved "
                                     "(redirects are not followed); fix the URL",
                                     retryable=False, status=status)
    if 400 <= status < 500:
        return DeliveryResult.failed(f"HTTP {status} (refused): {said}", retryable=False,
                                     status=status)
    return DeliveryResult.failed(f"HTTP {status} (receiver error): {said}", retryable=True,
                                 status=status, retry_after=retry_after(reply))


@dataclass(frozen=True)
class RobotCodes:
    """How a robot that answers HTTP 200 with an error code in its body is read."""

    field: str                          # "errcode" (DingTalk, WeCom) or "code" (Feishu)
    message_field: str                  # "errmsg" or "msg"
    rate_limited: dict[int, float]      # code → seconds to wait
    final: dict[int, str]               # codes that no retry can fix → what they mean
    busy: frozenset[int] = frozenset({-1})


def judge_robot(reply: HttpReply, codes: RobotCodes, robot: str) -> DeliveryResult:
    """The result of a robot's answer: its status first, then the error code in its body."""
    failed = judge_status(reply)
    if failed is not None:
        return failed
    data = reply.json()
    if not isinstance(data, dict):
        return DeliveryResult.failed(f"{robot} answered HTTP {reply.status} without a JSON "
                                     f"result: {reply.snippet(120)}", retryable=True,
                                     status=reply.status)
    code = data.get(codes.field, data.get("StatusCode"))
    said = " ".join(str(data.get(codes.message_field) or data.get("StatusMessage") or "")
                    .split())[:200]
    if code in (0, "0"):
        return DeliveryResult.delivered(f"{robot} accepted it", status=reply.status)
    try:
        number = int(code)
    except (TypeError, ValueError):
        return DeliveryResult.failed(f"{robot} answered without {codes.field}: "
                                     f"{reply.snippet(120)}", retryable=True,
                                     status=reply.status)
    if number in codes.rate_limited:
        return DeliveryResult.failed(f"{robot} rate limit ({codes.field} {number}: {said})",
                                     retryable=True, status=reply.status,
                                     retry_after=codes.rate_limited[number], code=number)
    if number in codes.final:
        return DeliveryResult.failed(f"{robot} refused it: {codes.final[number]} "
                                     f"({codes.field} {number}: {said})", retryable=False,
                                     status=reply.status, code=number)
    what = "busy" if number in codes.busy else "refused it"
    return DeliveryResult.failed(f"{robot} {what} ({codes.field} {number}: {said})",
                                 retryable=True, status=reply.status, code=number)


def json_body(payload: Any) -> bytes:
    """Compact UTF-8 JSON (Chinese kept as characters: 3 bytes each, as the robots count)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
