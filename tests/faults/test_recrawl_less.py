"""Defect 1 of issue 6, through real crawls: a re-crawl never blanks a stored document.

A board is crawled; then its pages change on the server — one answers 200 with its content block
empty, one is a soft error page, one answers 404, one answers 410, one is really edited — and the
board is crawled again.  The stored documents keep their content; the taken-down ones are marked
withdrawn; the emptier version is kept aside and counted in the run report.
"""
from __future__ import annotations

import pytest

from monitor.app import Monitor
from monitor.config import SourceConfig, load_config
from monitor.crawl import run_crawl
from monitor.documents import make_doc_id
from monitor.localsite import serve_directory
from monitor.starter import write_config
from monitor.store import SearchQuery

pytestmark = pytest.mark.slow

PAGE = """<html><head><meta charset="utf-8"><title>{title}</title></head><body>
<h1 class="t">{title}</h1><span class="d">2026年11月24日 09:30</span>
<div class="c">{body}</div></body></html>"""
TEXTS = {n: f"第{n}号来信：小区门口道路积水严重，雨后一周仍未排干，老人孩子出行困难，恳请尽快安排处理。"
         for n in range(1, 7)}


def _write_site(root, pages: dict[int, str | None]) -> None:
    links = "".join(f'<li><a href="/m/{n}.html">信件{n}</a></li>' for n in pages)
    (root / "list.html").write_text(f'<html><body><ul class="l">{links}</ul></body></html>',
                                    encoding="utf-8")
    (root / "m").mkdir(exist_ok=True)
    for n, html in pages.items():
        path = root / "m" / f"{n}.html"
        if html is None:
            path.unlink(missing_ok=True)  # the server answers 404
        else:
            path.write_text(html, encoding="utf-8")


def test_a_recrawl_never_replaces_stored_content_with_less(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    good = {n: PAGE.format(title=f"关于道路积水的反映{n}", body=TEXTS[n]) for n in TEXTS}
    _write_site(site, good)
    with serve_directory(site) as base:
        source = SourceConfig(id="board", spider="news_list", channel="board",
                              url=f"{base}/list.html",
                              selectors={"links": "ul.l a", "title": "h1.t", "published": ".d",
                                         "content": "div.c"})
        config_dir = tmp_path / "config"
        write_config(config_dir, sources=[source], disabled=["sentiment_snownlp"])
        config = load_config(config_dir)
        first = run_crawl(config, "board")
        assert first.status == "ok" and first.report["ingest"]["inserted"] == 6
        changed = dict(good)
        changed[1] = PAGE.format(title="关于道路积水的反映1", body="")  # content block empty
        changed[2] = PAGE.format(title="404 页面不存在", body="抱歉，您访问的页面不存在或已被删除")
        changed[3] = None  # HTTP 404
        changed[5] = PAGE.format(title="关于道路积水的反映5", body=TEXTS[5] + "（已补充现场照片）")
        _write_site(site, changed)
        second = run_crawl(config, "board")
    ingest = second.report["ingest"]
    assert ingest["kept_aside"] == 1 and ingest["kept_aside_reasons"] == {"text is empty now": 1}
    assert ingest["withdrawn"] == 2  # the soft error page and the 404
    assert ingest["updated"] == 1 and ingest["unchanged"] == 2
    with Monitor(config) as monitor:
        store = monitor.store
        docs = {n: store.get(make_doc_id("board", url=f"{base}/m/{n}.html")) for n in TEXTS}
        assert docs[1].text == TEXTS[1] and docs[1].withdrawn_at is None
        assert docs[2].title == "关于道路积水的反映2" and docs[2].text == TEXTS[2]
        assert docs[2].published_at is not None and docs[2].withdrawn_at is not None
        assert docs[3].text == TEXTS[3] and docs[3].withdrawn_at is not None
        assert docs[5].text.endswith("（已补充现场照片）")
        assert store.search(SearchQuery(text="积水")).total == 6  # every word still found
        assert store.count() == 6 and store.check_integrity() == []
        runs = monitor.state.runs("board")
        assert runs[0].report["ingest"]["kept_aside"] == 1
