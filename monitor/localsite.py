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


#: The selectors of a board written by :func:`write_letter_board` (a news_list source).
LETTER_BOARD_SELECTORS = {"links": "ul.l a", "title": "h1.t", "published": ".d",
                          "content": "div.c"}

_LETTER_PAGE = """<html><head><meta charset="utf-8"><title>{title}</title></head><body>
<h1 class="t">{title}</h1><span class="d">2026-11-2{day} 09:{minute:02d}</span>
<div class="c">{body}</div></body></html>"""


def write_letter_board(root: str | Path, name: str, letters: int, *, filler_repeats: int = 2
                       ) -> Path:
    """Write a small letter board under ``root/name``: ``list.html`` linking ``letters`` pages.

    ``filler_repeats`` makes each letter longer (1,500 gives pages of about 100,000 characters,
    the "large pages" of the concurrency tests and benchmark).  Returns the board's folder.
    """
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    links = "".join(f'<li><a href="/{name}/{n}.html">信件{n}</a></li>' for n in range(letters))
    (folder / "list.html").write_text(f'<ul class="l">{links}</ul>', encoding="utf-8")
    filler = ("经核实，该路段雨水管网老化，住建局已安排施工单位进场疏通，预计本月底完工。"
              "群众反映的道路改造问题将纳入明年计划。" * filler_repeats)
    for n in range(letters):
        body = f"{name}第{n}号来信：小区门口道路积水严重，恳请处理。{filler}"
        (folder / f"{n}.html").write_text(
            _LETTER_PAGE.format(title=f"{name}来信{n}", day=n % 7, minute=n % 60, body=body),
            encoding="utf-8")
    return folder
