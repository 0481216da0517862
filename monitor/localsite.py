"""A static web site on loopback, for the offline demo and for tests.

It speaks HTTP/1.1 with a large listen backlog (the stock ``http.server`` drops connections under
a crawler's concurrency).  A file ``name.ext`` is served with the content type of its extension;
``charset`` chooses what the ``Content-Type`` header says about text files: a fixed charset, or
None to send no charset at all (so the crawler must work it out from the page).
"""
from __future__ import annotations

import mimetypes
import threading
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


class _Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    charset: str | None = "utf-8"
    overrides: dict[str, str] = {}

    def guess_type(self, path):  # noqa: D401 - stdlib override
        rel = "/" + Path(path).relative_to(Path(self.directory)).as_posix()
        if rel in self.overrides:
            return self.overrides[rel]
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/xml", "application/json",
                                                  "application/rss+xml"):
            return f"{ctype}; charset={self.charset}" if self.charset else ctype
        return ctype

    def translate_path(self, path):
        # "/list?page=2" is served from the file "list_page=2"-style name only when it exists;
        # otherwise the query string is ignored, as a static site would.
        base, _, query = path.partition("?")
        if query:
            candidate = super().translate_path(base.rstrip("/") + "__" + query.replace("&", "_"))
            if Path(candidate).exists():
                return candidate
        return super().translate_path(base)

    def log_message(self, format, *args):  # keep test and demo output quiet
        pass


@contextmanager
def serve_directory(root: str | Path, *, charset: str | None = "utf-8",
                    overrides: dict[str, str] | None = None, port: int = 0) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (a free port) while the block runs; yield the base URL.

    ``overrides`` maps a path such as ``"/a/b.html"`` to the exact Content-Type header to send.
    A query string ``?k=v`` is mapped to the file ``<path>__k=v`` when that file exists.
    ``port`` 0 picks a free port.
    """
    handler = type("Handler", (_Handler,), {"charset": charset, "overrides": overrides or {}})
    server = _Server(("127.0.0.1", port), partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, name="localsite", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
