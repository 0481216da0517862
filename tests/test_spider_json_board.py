"""message_board with format = "json": a 12345-style JSON API, read by GET and by POST.

The fixtures (tests/fixtures/pages/json_board/page{1,2,3}.synthetic.json) are hand-written in
the shape of the 重庆 12345 API (records under ``data.result``; workOrderTitle, workOrderContent,
replyDate, replyContent …): two pages of records and an empty third page, a record without a
reply, one without its submitted date, a ``null`` record, numbers as JSON ints, and one record
with a relative detail link.  The GET source pages through them with ``page_url``; the POST
source sends the API's body with ``{page}``, and a small server here answers from the body's
``pageNo``.
"""
from __future__ import annotations

import json
import shutil
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import FIXTURES
from monitor.app import Monitor
from monitor.config import SourceConfig, load_config, parse_source
from monitor.crawl import run_crawl, run_crawls
from monitor.errors import ConfigError
from monitor.localsite import serve_directory
from monitor.tomlfile import read_toml

PAGES = FIXTURES / "pages" / "json_board"
SELECTORS = {
    "items": "data.result", "title": "workOrderTitle", "question": "workOrderContent",
    "asker": "appealName", "submitted": "createDate", "unit": "handleDeptName",
    "number": "workOrderNo", "reply": "replyContent", "reply_unit": "replyDeptName",
    "reply_time": "replyDate", "status": "statusName", "link": "detailUrl",
}
BODY = '{"descend":true,"pageNo":{page},"pageSize":30,"sort":"","status":2}'
API = "/cq12345/api/bs-tsm-oworder-slave/page"


class _Api(BaseHTTPRequestHandler):
    """POST API: answers with page<pageNo>.synthetic.json (an empty page beyond them)."""

    received: list[tuple[str, str, dict]] = []

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802 - stdlib name
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != API:
            self._send(200, "<html><body>系统维护中</body></html>".encode(), "text/html")
            return
        body = json.loads(raw)
        self.received.append((self.command, self.headers.get("Content-Type", ""), body))
        page = PAGES / f"page{int(body['pageNo'])}.synthetic.json"
        data = page.read_bytes() if page.exists() else b'{"code":200,"data":{"result":[]}}'
        self._send(200, data, "application/json;charset=UTF-8")

    def do_GET(self):  # noqa: N802 - stdlib name
        self._send(200, "<html><body>系统维护中</body></html>".encode(), "text/html")

    def log_message(self, format, *args):  # keep test output quiet
        pass


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """(static base URL, POST API base URL) while the module runs."""
    root = tmp_path_factory.mktemp("json_site")
    shutil.copytree(PAGES, root / "json_board")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with serve_directory(root) as base:
            yield base, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _post_source(api: str, **kwargs) -> SourceConfig:
    return SourceConfig(id="cq-post", spider="message_board", channel="hotline",
                        url=api + API, format="json", request_body=BODY, max_pages=5,
                        place="重庆市", selectors=SELECTORS, **kwargs)


@pytest.fixture(scope="module")
def crawls(sites, tmp_path_factory):
    base, api = sites
    sources = [
        SourceConfig(id="cq-get", spider="message_board", channel="hotline",
                     url=f"{base}/json_board/page1.synthetic.json",
                     page_url=f"{base}/json_board/page{{page}}.synthetic.json", max_pages=5,
                     format="json", selectors=SELECTORS),
        _post_source(api),
        SourceConfig(id="cq-html", spider="message_board", channel="hotline",
                     url=f"{api}/maintenance", format="json", request_body=BODY,
                     selectors=SELECTORS),
    ]
    config_dir = tmp_path_factory.mktemp("cfg") / "config"
    from monitor.starter import write_config
    write_config(config_dir, sources=sources, disabled=["sentiment_snownlp"])
    _Api.received.clear()
    results = run_crawls(load_config(config_dir), [s.id for s in sources], parallel=3,
                         dry_run=True, timeout=120)
    return {r.source: r for r in results}, list(_Api.received)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize("source_id", ["cq-get", "cq-post"])
def test_json_board_records_become_messages(crawls, sites, source_id):
    result = crawls[0][source_id]
    report = result.report
    assert result.status == "ok", result.message + result.log_tail
    assert report["items"] == 5 and report["pages"] == 3 and report["errors"] == 0
    assert report["skip_reasons"] == {"record is not an object": 1}
    assert report["selector_misses"] == {"submitted": 1, "reply": 1, "reply_unit": 1,
                                         "reply_time": 1, "link": 4}
    assert report["selector_pages"]["items"] == 3 and report["selector_pages"]["title"] == 5
    assert report["warnings"] == {"no submitted date": 1}
    docs = {d.platform_id: d for d in result.items}
    assert sorted(docs) == [f"202611000{i}" for i in range(1, 6)]
    list_url = result.items[0].url.partition("#")[0]
    assert list_url.endswith("page1.synthetic.json" if source_id == "cq-get" else API)

    first = docs["2026110001"]
    assert first.kind == "message" and first.channel == "hotline"
    assert first.url == f"{list_url}#2026110001"
    assert first.title == "南岸区某路人行道地砖松动，雨天踩踏溅水"
    assert first.text.startswith("【网上12345】您好：\n南岸区某路公交站旁")
    assert first.author == "陈**" and first.department == "南岸区城市管理局"
    assert first.published_at == _utc(2026, 11, 2, 1, 15)
    assert first.published_at.utcoffset().total_seconds() == 0
    assert first.status == "replied" and first.extra["site_status"] == "已办结"
    assert first.reply.text == "陈**：您好！经现场核实，该路段松动地砖共十二块，已于11月4日全部重新铺设。"
    assert first.reply.unit == "南岸区城市管理局"
    assert first.reply.replied_at == _utc(2026, 11, 4, 8, 30)

    pending = docs["2026110002"]
    assert pending.status == "pending" and pending.reply is None and not pending.replied
    assert pending.extra["site_status"] == "办理中" and pending.author == "赵**"

    undated = docs["2026110003"]
    assert undated.published_at is None and undated.author == "孙**"
    assert undated.reply.replied_at == _utc(2026, 11, 6, 2)

    second_page = docs["2026110004"]
    assert second_page.reply.text.startswith("刘**：您好！")
    assert second_page.department == "市交通运输委员会"
    assert second_page.reply.unit == "市公共交通集团"

    linked = docs["2026110005"]
    host = list_url.split("/")[2]
    assert linked.url == f"http://{host}/cq12345/detail?id=2026110005"
    assert linked.published_at == _utc(2026, 11, 6, 6, 5, 30)
    assert len({d.id for d in result.items}) == 5
    every = json.dumps([d.to_dict() for d in result.items], ensure_ascii=False)
    for full_name in ("陈建国", "赵敏", "刘晓红"):
        assert full_name not in every
    if source_id == "cq-post":
        assert all(d.place == "重庆市" for d in result.items)


def test_post_bodies_carry_the_page_number(crawls):
    received = crawls[1]
    assert sorted(body["pageNo"] for _, _, body in received) == [1, 2, 3]
    for method, ctype, body in received:
        assert method == "POST" and ctype == "application/json"
        assert body["pageSize"] == 30 and body["descend"] is True and body["status"] == 2


def test_a_page_that_is_not_json_is_a_counted_error(crawls):
    result = crawls[0]["cq-html"]
    report = result.report
    assert result.items == [] and report["items"] == 0
    assert report["error_kinds"] == {"not JSON": 1}
    assert any("not JSON: " in m and "/maintenance" in m for m in report["messages"])


def test_real_post_crawl_then_recrawl_is_unchanged(sites, make_config):
    config = load_config(make_config([_post_source(sites[1])]))
    with Monitor(config) as monitor:
        first = run_crawl(config, "cq-post", monitor=monitor)
        second = run_crawl(config, "cq-post", monitor=monitor)
        assert first.status == "ok", first.message + first.log_tail
        assert first.report["ingest"]["inserted"] == 5
        assert second.status == "ok", second.message + second.log_tail
        assert second.report["ingest"]["inserted"] == 0
        assert second.report["ingest"]["updated"] == 0
        assert second.report["ingest"]["unchanged"] == 5
        assert monitor.store.count() == 5


# -- configuration ---------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "src.toml"
    path.write_text(text, encoding="utf-8")
    return path


HEAD = 'spider = "message_board"\nchannel = "hotline"\nurl = "https://x.gov.cn/api/page"\n'


def test_json_source_reads_and_round_trips(tmp_path):
    path = _write(tmp_path, HEAD + f"format = \"json\"\nrequest_body = '{BODY}'\n"
                  '[selectors]\nitems = "data.result"\ntitle = "workOrderTitle"\n'
                  'reply = "reply.text"\nnumber = "list.0.id"\nlink = "detailUrl"\n')
    source = parse_source(read_toml(path), path)
    assert source.format == "json" and source.request_body == BODY
    assert source.selectors["number"] == "list.0.id"
    again = _write(tmp_path, source.to_toml())
    copy = parse_source(read_toml(again), again)
    assert (copy.format, copy.request_body, copy.selectors) == ("json", BODY, source.selectors)
    plain = parse_source(read_toml(_write(tmp_path, HEAD)), path)
    assert plain.format == "html" and plain.request_body == ""
    assert "format" not in plain.to_toml() and "request_body" not in plain.to_toml()


@pytest.mark.parametrize("text, key, words", [
    (HEAD + 'format = "xml"\n', "format", "expected one of html, json"),
    (HEAD + 'format = "json"\n[selectors]\ntitle = "workOrderTitle"\n', "selectors.items",
     "needs an 'items' selector"),
    (HEAD + 'format = "json"\n[selectors]\nitems = "data.result"\ntitle = "h1.title::text"\n',
     "selectors.title", "invalid JSON path"),
    (HEAD + 'format = "json"\n[selectors]\nitems = "data[0]"\n', "selectors.items",
     "invalid JSON path"),
    (HEAD + 'format = "json"\n[selectors]\nitems = "data..result"\n', "selectors.items",
     "invalid JSON path"),
    (HEAD + 'format = "json"\n[selectors]\nitems = ""\n', "selectors.items", "empty path"),
    (HEAD + 'format = "json"\n[selectors]\nitems = "data.result"\nlinks = "data.url"\n',
     "selectors.links", "not used with format = 'json'"),
    (HEAD + '[selectors]\nitems = "ul li"\n', "selectors.items", "are for format = \"json\""),
    (HEAD + "request_body = '{\"pageNo\":{page}}'\n", "request_body", "needs format = \"json\""),
    ('spider = "news_list"\nchannel = "news"\nurl = "https://x.gov.cn/"\nformat = "json"\n',
     "format", "only for the message_board spider"),
])
def test_json_source_errors(tmp_path, text, key, words):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        parse_source(read_toml(path), path)
    assert err.value.key == key and words in str(err.value), str(err.value)
