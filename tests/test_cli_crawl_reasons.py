"""What `monitor sources test` reports for pages Scrapy will not complete: each named.

A loopback server answers with an endless redirect chain, a gzip bomb and a body over
DOWNLOAD_MAXSIZE (skips), broken gzip and deflate bodies, redirects to a bad host or port and a
page slower than the download timeout (errors).  The crawls are real (a Scrapy subprocess,
dry runs); nothing is mocked.
"""
from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import SourceConfig

PAGES = ("ok", "loop", "bomb", "huge", "brokengz", "brokedeflate", "slow", "badhost", "badport")
ARTICLE = ("<html><head><meta charset='utf-8'><title>{0}</title></head><body><h1>{0}</h1>"
           "<div class='content'><p>{1}</p></div></body></html>")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bomb = b""  # 17 MB of zeros, gzipped (≈ 17 KB), filled in by the fixture
    slow_seconds = 4.0

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status=200, body=b"", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        for key, value in headers:
            self.send_header(key, value)
        if not any(key == "Content-Length" for key, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the crawler hung up (the size limit, the timeout)
            pass

    def do_GET(self):  # noqa: N802 - http.server's name
        path, _, query = self.path.partition("?")
        name = path.strip("/").removesuffix(".html")
        only = [p for p in query.removeprefix("only=").split(",") if p] if "only=" in query \
            else PAGES
        if name == "list":
            links = "".join(f'<li><a href="/{p}.html">{p}</a></li>' for p in only)
            self._send(body=f"<html><body><ul class='news'>{links}</ul></body></html>".encode())
        elif name == "ok":
            self._send(body=ARTICLE.format("正常的文章", "正文内容").encode())
        elif name == "loop":  # /loop.html?n=1 → ?n=2 → … past REDIRECT_MAX_TIMES
            n = int(query.removeprefix("n=") or 0)
            self._send(302, headers=(("Location", f"/loop.html?n={n + 1}"),))
        elif name == "bomb":
            self._send(body=self.bomb, headers=(("Content-Encoding", "gzip"),))
        elif name == "huge":  # says 20 MB: cancelled before the body comes
            self._send(body=b"<html>" + b"x" * 1000, headers=(("Content-Length", "20000000"),))
        elif name == "brokengz":
            self._send(body=b"\x1f\x8b\x08\x00broken gzip", headers=(("Content-Encoding", "gzip"),))
        elif name == "brokedeflate":
            self._send(body=b"not deflate at all", headers=(("Content-Encoding", "deflate"),))
        elif name == "slow":
            time.sleep(self.slow_seconds)
            self._send(body=ARTICLE.format("慢", "慢").encode())
        elif name == "badhost":
            self._send(302, headers=(("Location", "http://[::1/x"),))
        elif name == "badport":
            self._send(302, headers=(("Location", "http://127.0.0.1:99999/x"),))
        else:
            self._send(404, b"no such page")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a crawler hanging up is no news
        pass


@pytest.fixture(scope="module")
def site():
    _Handler.bomb = gzip.compress(b"\0" * 17_000_000)
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _source(base: str, sid: str, query: str = "", **kwargs) -> SourceConfig:
    return SourceConfig(id=sid, spider="news_list", channel="news",
                        url=f"{base}/list.html{query}",
                        selectors={"links": "ul.news li a", "title": "h1",
                                   "content": "div.content"}, **kwargs)


def _test(config_dir, sid: str) -> dict:
    result = CliRunner().invoke(cli, ["-c", str(config_dir), "sources", "test", sid,
                                      "--json", "--limit", "50"])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return json.loads(result.output)


def test_pages_scrapy_does_not_complete_are_named(site, make_config):
    config_dir = make_config([_source(site, "errs", download_timeout=1)])
    data = _test(config_dir, "errs")
    report = data["report"]
    assert data["status"] == "ok" and report["items"] == 1, data["message"]
    assert report["skip_reasons"] == {"too many redirects": 1,
                                      "response larger than DOWNLOAD_MAXSIZE": 2}
    assert report["error_kinds"] == {"broken gzip/deflate body": 2, "download timeout": 1,
                                     "unusable redirect address": 2}
    messages = "\n".join(report["messages"])
    for page, reason in [("loop", "skipped (too many redirects)"),
                         ("bomb", "skipped (response larger than DOWNLOAD_MAXSIZE)"),
                         ("huge", "skipped (response larger than DOWNLOAD_MAXSIZE)"),
                         ("brokengz", "broken gzip/deflate body"),
                         ("brokedeflate", "broken gzip/deflate body"),
                         ("badhost", "unusable redirect address"),
                         ("slow", "download timeout")]:
        assert any(m.startswith(reason) and f"/{page}.html" in m
                   for m in report["messages"]), (page, messages)
    assert "request ignored" not in messages and "download: " not in messages
    # the source's own download_timeout (1 s), not [crawl]'s 30 s nor Scrapy's 180 s
    assert "took longer than 1.0 seconds" in messages


def test_crawl_download_timeout_applies_to_sources_without_their_own(site, make_config):
    config_dir = make_config([_source(site, "slow", "?only=ok,slow")])
    main = config_dir / "monitor.toml"
    main.write_text(main.read_text(encoding="utf-8").replace(
        "[crawl]\n", "[crawl]\ndownload_timeout = 1.5\n", 1), encoding="utf-8")
    report = _test(config_dir, "slow")["report"]
    assert report["items"] == 1 and report["error_kinds"] == {"download timeout": 1}
    assert "took longer than 1.5 seconds" in "\n".join(report["messages"])
