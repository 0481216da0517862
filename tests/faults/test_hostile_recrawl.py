"""0 documents overwritten with less: good pages are crawled, then the same URLs answer with
hostile, empty or error versions and are crawled again (slow group; runs after the others).

For each page of a news list and of a 信箱 the second version is one of: the content block
empty, only the title left (a truncated page), a soft error page (「404 页面不存在」), a
maintenance page, 404, 410, 500, an empty or binary body, the text hidden below 10,000 levels of
markup or inside a script, the reply taken away, a download that never finishes — or, as the
control, a real edit.  After the re-crawl every stored title and text is what the first crawl
stored (the edit excepted, which must be stored), and the pages that were taken down (404,
410, soft error) are marked withdrawn.
"""
from __future__ import annotations

import random

import pytest

import _hostile_run as run
from _hostile_server import HostileServer
from hostile import ARTICLE_SELECTORS, LETTER_SELECTORS, Response, article_html, content, \
    letter_html
from monitor.config import SourceConfig, load_config
from monitor.documents import make_doc_id
from monitor.store import open_store

pytestmark = pytest.mark.slow
SEED = 61
TAKEN_DOWN = {"404", "410", "soft error page"}


def _versions(page, c) -> dict[str, Response]:
    """Every second version of the page with content ``c`` (the edit is the control)."""
    def html(**change) -> Response:
        d = content(random.Random(0), "x")
        d.__dict__.update(c.__dict__)
        d.__dict__.update(change)
        return Response(body=page(d).encode("utf-8"))

    full = page(c).encode("utf-8")
    return {
        "content emptied": html(paragraphs=[]),
        "only the title": Response(body=full[: full.index(c.title.encode()) + 40]),
        "soft error page": html(title="404 页面不存在", paragraphs=["抱歉，您访问的页面不存在或已被删除！"],
                                reply=""),
        "maintenance page": Response(body="<html><head><title>系统维护中</title></head><body>"
                                     "<p>系统维护中，请稍后访问。</p></body></html>".encode()),
        "404": Response(status=404, body=b"<html><body>404 Not Found</body></html>"),
        "410": Response(status=410, body=b"<html><body>Gone</body></html>"),
        "500": Response(status=500, body=b"<html><body>error</body></html>"),
        "empty body": Response(body=b""),
        "binary body": Response(body=bytes(range(256)) * 20),
        "text below 10,000 levels": html(paragraphs=["<div>" * 10_000 + "正文" + "</div>" * 10_000]),
        "text inside a script": html(paragraphs=["<script>var t = '" + "".join(c.paragraphs)
                                                 + "';</script>"]),
        "reply taken away": html(reply=""),
        "never finishes": Response(body=full, mode="trickle", seconds=20.0, interval=0.5, chunk=4),
        "real edit": html(paragraphs=["更正：" + p + "（已更新）" for p in c.paragraphs]),
    }


def _site(server, sid, spider, channel, path, page, selectors, rng):
    pages, second = {}, {}
    for kind in _versions(page, content(rng, "x")):
        tag = f"rc{len(pages):04d}{path.strip('/')[:2]}"
        c = content(rng, tag)
        pages[tag] = c
        second[tag] = (kind, _versions(page, c)[kind])
        server.add(f"{path}/{tag}.html", Response(body=page(c).encode("utf-8")))
    links = "".join(f'<li><a href="{path}/{t}.html">{t}</a></li>' for t in pages)
    body = (f"<html><body><ul class=\"news\">{links}</ul></body></html>" if spider == "news_list"
            else f"<html><body><table class=\"list\"><tr><td>{links}</td></tr></table></body>"
                 f"</html>")
    server.add(f"{path}/index.html", Response(body=body.encode("utf-8")))
    source = SourceConfig(id=sid, spider=spider, channel=channel, max_pages=1,
                          url=f"{server.base}{path}/index.html", selectors=selectors)
    return source, pages, second


@pytest.fixture(scope="module")
def recrawled(tmp_path_factory):
    """(first-crawl documents, second-crawl documents, reports, second versions) by doc id."""
    tmp = tmp_path_factory.mktemp("hostile-recrawl")
    rng = random.Random(SEED)
    with HostileServer() as server:
        made = [_site(server, "again-news", "news_list", "news", "/n", article_html,
                      ARTICLE_SELECTORS, rng),
                _site(server, "again-board", "message_board", "mailbox", "/b", letter_html,
                      LETTER_SELECTORS, rng)]
        sites = [run.Site(source, [], "page") for source, _, _ in made]
        config_dir = run.write_corpus_config(tmp / "config", sites, tmp / "logs")
        first_results = run.run_sites(config_dir, sites, parallel=2)
        store = open_store(load_config(config_dir).store)
        ids = {}
        for source, pages, second in made:
            for tag in pages:
                url = source.url.rsplit("/", 1)[0] + f"/{tag}.html"
                doc_id = make_doc_id(source.id, url=url)
                if source.spider == "message_board":
                    doc_id = make_doc_id(source.id, platform_id=pages[tag].number)
                ids[doc_id] = (source.id, tag, second[tag][0])
        first = {i: store.get(i) for i in ids}
        store.close()
        for source, pages, second in made:
            path = source.url.rsplit("/", 1)[0].removeprefix(server.base)
            for tag, (kind, response) in second.items():
                server.add(f"{path}/{tag}.html", response)
        second_results = run.run_sites(config_dir, sites, parallel=2)
    store = open_store(load_config(config_dir).store)
    again = {i: store.get(i) for i in ids}
    store.close()
    return ids, first, again, first_results, second_results


def test_first_crawl_stored_every_page(recrawled):
    ids, first, _, results, _ = recrawled
    missing = [ids[i] for i, doc in first.items() if doc is None]
    assert not missing, (missing, {k: r.message for k, r in results.items()})
    assert len(first) == 2 * 14


def test_no_document_overwritten_with_less(recrawled):
    ids, first, again, _, results = recrawled
    for result in results.values():
        assert result.returncode == 0 and not result.report.get("fatal"), result.message
    changed = []
    for doc_id, (sid, tag, kind) in ids.items():
        before, after = first[doc_id], again[doc_id]
        if kind == "real edit":
            assert after is not None and after.text != before.text and "已更新" in after.text
            continue
        if after is None:
            changed.append((sid, kind, "gone from the store"))
            continue
        for name in ("title", "text"):
            if getattr(after, name) != getattr(before, name):
                changed.append((sid, kind, name, getattr(after, name)[:40]))
        if (before.reply and before.reply.text) != (after.reply and after.reply.text):
            changed.append((sid, kind, "reply", after.reply))
        if before.published_at and after.published_at is None:
            changed.append((sid, kind, "date lost"))
    ingest = {k: r.report.get("ingest") or {} for k, r in results.items()}
    if changed and not any("kept_aside" in i for i in ingest.values()):
        pytest.xfail("kept-aside versions: store owner's work in progress")
    assert not changed, changed


def test_taken_down_pages_are_marked_withdrawn(recrawled):
    ids, first, again, _, results = recrawled
    not_marked = [(sid, kind) for doc_id, (sid, tag, kind) in ids.items()
                  if kind in TAKEN_DOWN and (again[doc_id] is None
                                             or again[doc_id].withdrawn_at is None)]
    wrongly = [(sid, kind) for doc_id, (sid, tag, kind) in ids.items()
               if kind not in TAKEN_DOWN | {"maintenance page"} and again[doc_id] is not None
               and again[doc_id].withdrawn_at is not None]
    ingest = {k: r.report.get("ingest") or {} for k, r in results.items()}
    if not_marked and not any("withdrawn" in i for i in ingest.values()):
        pytest.xfail("withdrawn documents: store owner's work in progress")
    assert not not_marked, not_marked
    assert not wrongly, wrongly


def test_what_was_kept_aside_is_counted(recrawled):
    """Every version that was not stored shows in the run report: kept aside, skipped or an
    error — never silently ignored."""
    ids, first, again, _, results = recrawled
    for sid, result in results.items():
        report = result.report
        ingest = report.get("ingest") or {}
        versions = sum(1 for s, _, kind in ids.values() if s == sid and kind != "real edit")
        counted = (int(ingest.get("kept_aside") or 0) + int(ingest.get("withdrawn") or 0)
                   + int(ingest.get("unchanged") or 0) + int(report.get("skipped") or 0)
                   + int(report.get("errors") or 0) + int(ingest.get("skipped") or 0))
        assert counted >= versions, (sid, versions, ingest, report.get("skip_reasons"),
                                     report.get("error_kinds"))
