"""A loopback HTTP server that serves hostile pages the way real broken sites do.

Each path answers with one :class:`hostile.Response`: a status, headers and a body, sent whole
or in one of the ways below (``mode``):

* ``send``      the body, with a correct Content-Length;
* ``trickle``   a few bytes every ``interval`` seconds, for ``seconds`` at most, then the
                connection is closed (longer than a crawler's download timeout);
* ``abort``     a Content-Length twice the body, half the body, then the connection is closed;
* ``close``     no Content-Length: the body ends when the connection closes (HTTP/1.0 style);
* ``redirect``  status 301/302/307 with ``Location`` (may point at itself: a loop).  A location
                with ``{n}`` gets the number of this request + 1 (an endless redirect chain).

Every request is counted per path (query string dropped), so a test can tell which inputs the
crawler really fetched.  The server runs in a daemon thread; trickling stops when the client
goes away or the server shuts down, so nothing outlives the test.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import urlsplit

from hostile import Response


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):  # noqa: D401 - stdlib override
        """A crawler that hangs up (timeouts, aborted downloads) is expected here: stay quiet."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class HostileServer:
    """Serves ``routes`` (path → Response) on 127.0.0.1; use as a context manager."""

    def __init__(self, routes: dict[str, Response] | None = None):
        self.routes: dict[str, Response] = dict(routes or {})
        self.hits: Counter = Counter()
        self.methods: Counter = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        assert self._server is not None, "the server is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, path: str, response: Response) -> None:
        """Serve ``response`` at ``path`` (replacing what was there: a page that changed)."""
        with self._lock:
            self.routes[path] = response

    def hit_paths(self) -> set[str]:
        """Paths requested at least once."""
        with self._lock:
            return set(self.hits)

    def __enter__(self) -> "HostileServer":
        handler = type("Handler", (_Handler,), {"owner": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="hostile",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- used by the handler ---------------------------------------------------------------

    def lookup(self, raw_path: str) -> tuple[str, int, Response | None]:
        path = urlsplit(raw_path).path
        with self._lock:
            self.hits[path] += 1
            return path, self.hits[path], self.routes.get(path)


NOT_FOUND = Response(status=404, body=b"<html><head><title>404</title></head><body>not found"
                     b"</body></html>", content_type="text/html; charset=utf-8")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: HostileServer

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802 - stdlib name
        self._answer()

    def do_POST(self):  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._answer()

    def do_HEAD(self):  # noqa: N802 - stdlib name
        self._answer(head=True)

    def _answer(self, head: bool = False) -> None:
        path, count, resp = self.owner.lookup(self.path)
        self.owner.methods[self.command] += 1
        resp = resp or NOT_FOUND
        try:
            if resp.mode == "redirect":
                self._redirect(resp, count)
            elif resp.mode == "trickle":
                self._trickle(resp)
            elif resp.mode == "abort":
                self._headers(resp, length=len(resp.body) * 2 + 1, close=True)
                self.wfile.write(resp.body[: len(resp.body) // 2])
                self.wfile.flush()
                self.close_connection = True
            elif resp.mode == "close":
                self._headers(resp, length=None, close=True)
                if not head:
                    self.wfile.write(resp.body)
                self.close_connection = True
            else:
                self._headers(resp, length=len(resp.body))
                if not head:
                    self.wfile.write(resp.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _headers(self, resp: Response, length: int | None, close: bool = False) -> None:
        self.send_response(resp.status)
        if resp.content_type is not None:
            self.send_header("Content-Type", resp.content_type)
        for name, value in resp.headers:
            self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()

    def _redirect(self, resp: Response, count: int) -> None:
        self.send_response(resp.status)
        if resp.location is not None:
            self.send_header("Location", resp.location.replace("{n}", str(count + 1)))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _trickle(self, resp: Response) -> None:
        self._headers(resp, length=len(resp.body), close=True)
        self.close_connection = True
        began = time.monotonic()
        body = resp.body
        for chunk in _chunks(body, resp.chunk):
            if self.owner._stop.is_set() or time.monotonic() - began > resp.seconds:
                return
            self.wfile.write(chunk)
            self.wfile.flush()
            if self.owner._stop.wait(resp.interval):
                return


def _chunks(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), max(1, size)):
        yield body[start:start + size]
