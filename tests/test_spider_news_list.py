"""news_list spider against real GNE article pages behind a hand-written list page.

The pages are served with no charset in the Content-Type header, so people/1, qq/2 and 163/9
(which declare gb2312 but are UTF-8) must be decoded by the charset middleware.  Expected
values were checked by hand against the pages (GNE's reference output gets sina/3's time wrong:
21:38:04 is a sidebar item; the article's own line says 2019年09月09日 20:52).
"""
from __future__ import annotations

import shutil
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from conftest import FIXTURES, shared_data
from monitor.config import SourceConfig, load_config
from monitor.crawl import run_crawl
from monitor.documents import make_doc_id
from monitor.localsite import serve_directory
from monitor.starter import write_config

SH = ZoneInfo("Asia/Shanghai")

EXPECTED = {
    "people/1.html": ("女儿出嫁，郑板桥画了几笔兰花当嫁妆", datetime(2019, 6, 15, 8, 18),
                      ["父亲的教诲像一盏灯", "(责编：汤诗瑶、丁涛)"]),
    "qq/2.html": ("棱镜|数据业大整顿：爬虫与现金贷共生共荣，用户信息几元不等",
                  datetime(2019, 9, 23, 7, 48), ["监管方从年初就在酝酿针对数据公司的整顿清理"]),
    "163/9.html": ("5月20日至31日，京沪高速无锡至江阴大桥至广陵枢纽段封闭！",
                   datetime(2019, 5, 17), ["京沪高速施工就将进入第二阶段", "来源：无锡交警"]),
    "shanxi/1.html": ("山西品牌丝路行（南美站）正式启动", datetime(2019, 9, 18, 6, 23),
                      ["山西品牌丝路行首次登陆巴西"]),
    "sina/3.html": ("债券市场是否存在泡沫？世界知名首席投资官们这么说",
                    datetime(2019, 9, 9, 20, 52), ["负利率债券的市场也不断扩大"]),
    "guancha/2.html": ("我国集成电路进口突破3000亿美元！魏少军：产业结构扭曲，没将产品作为中心",
                       datetime(2019, 9, 7, 15, 10, 53), ["全球每生产3块集成电路就有2块运到中国来"]),
    "other/1.html": ("全国人民代表大会常务委员会关于批准财政部发行特别国债购买外汇及调整2007 "
                     "年末国债余额限额的决议", datetime(2007, 8, 20),
                     ["批准发行15500亿元特别国债购买外汇"]),
}
MOJIBAKE = ("\ufffd", "锟", "鍑", "濂", "鏁")


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    """One dry-run crawl of the list (2 pages) → 7 articles and a 404, shared by the tests."""
    gne = shared_data("news_html_gne_tests", "tests")
    root = tmp_path_factory.mktemp("gne_site")
    for name in ("gne_list.synthetic.html", "gne_list_2.synthetic.html"):
        shutil.copy(FIXTURES / "pages" / name, root / name)
    (root / "tests").symlink_to(gne, target_is_directory=True)
    with serve_directory(root, charset=None) as base:
        source = SourceConfig(
            id="gne-news", spider="news_list", channel="news", url=f"{base}/gne_list.synthetic.html",
            max_pages=3, place="测试市",
            selectors={"links": "ul.news a::attr(href)", "next_page": "a.next::attr(href)",
                       "content": "#rwb_zw"})
        config_dir = tmp_path_factory.mktemp("cfg") / "config"
        write_config(config_dir, sources=[source], disabled=["sentiment_snownlp"])
        result = run_crawl(load_config(config_dir), "gne-news", dry_run=True, timeout=120)
    return base, result


def test_articles_titles_dates_and_text(crawl):
    base, result = crawl
    assert result.status == "ok", result.message + result.log_tail
    by_path = {doc.url.split("/tests/", 1)[1]: doc for doc in result.items}
    assert sorted(by_path) == sorted(EXPECTED)
    for path, (title, published, snippets) in EXPECTED.items():
        doc = by_path[path]
        assert doc.title == title, path
        assert doc.published_at == published.replace(tzinfo=SH), path
        for snippet in snippets:
            assert snippet in doc.text, (path, snippet)
        assert not any(bad in doc.title + doc.text for bad in MOJIBAKE), path
        assert doc.channel == "news" and doc.source == "gne-news" and doc.kind == "article"
        assert doc.place == "测试市"
        assert "list_page" not in doc.extra  # moving to another list page is not an update
        assert "date_relative" not in doc.extra
    # page furniture is not content
    assert "站内检索" not in by_path["people/1.html"].text
    assert "热门搜索" not in by_path["shanxi/1.html"].text


def test_report_counts_pages_fallbacks_and_errors(crawl):
    _base, result = crawl
    report = result.report
    assert report["items"] == 7
    assert report["pages"] == 10  # 2 list pages, 7 articles, one 404
    assert report["errors"] == 1 and report["error_kinds"] == {"HTTP 404": 1}
    assert report["unreachable"] == []
    # the lying-meta pages were re-decoded
    assert report["warnings"]["charset corrected"] == 3
    # content selector only fits people.com.cn: the other six fell back to the heuristic
    assert report["selector_misses"]["content"] == 6
    assert report["warnings"]["content fallback"] == 6
    assert report["warnings"]["title fallback"] == 7
    assert report["selector_pages"]["links"] == 2
    assert report["selector_misses"].get("links", 0) == 0
    assert report["selector_misses"]["next_page"] == 1  # the last list page has no next link
    assert report["skipped"] == 0 and report["finish_reason"] == "finished"
    assert report["ingest"] is None
    assert any("HTTP 404" in m and "missing/404.html" in m for m in report["messages"])


def test_ids_derive_from_source_and_url(crawl):
    """Deterministic ids: a re-crawl of the same article updates it instead of duplicating."""
    _base, result = crawl
    for doc in result.items:
        assert doc.id == make_doc_id("gne-news", url=doc.url)
    assert len({doc.id for doc in result.items}) == len(result.items)


GBK_PAGE = "<html><body><h1>政府信箱留言测试标题</h1><p>这是一个国标编码的页面。</p></body></html>"


@pytest.mark.parametrize("body, declared, forced, expected", [
    (GBK_PAGE.encode("utf-8"), "gb18030", None, ("utf-8", "charset corrected")),  # lying meta
    (GBK_PAGE.encode("utf-8"), "utf-8", None, (None, None)),
    (GBK_PAGE.encode("gbk"), "gb18030", None, (None, None)),                  # honest GBK
    (GBK_PAGE.encode("gbk"), "gb2312", None, ("gb18030", None)),              # widened
    (GBK_PAGE.encode("gbk"), "utf-8", None, ("gb18030", "charset corrected")),  # lying header
    (GBK_PAGE.encode("gbk"), "cp1252", None, ("gb18030", "charset corrected")),
    (GBK_PAGE.encode("gbk"), None, None, ("gb18030", "charset corrected")),   # no declaration
    (GBK_PAGE.encode("utf-8"), None, None, ("utf-8", None)),
    (GBK_PAGE.encode("gbk") + b"\xff\xfe\x80", "gb18030", None, (None, "undecodable bytes")),
    (GBK_PAGE.encode("gbk") + b"\xff\xfe\x80", "utf-8", None, ("gb18030", "undecodable bytes")),
    (b"<html>ascii only</html>", "cp1252", None, (None, None)),
    (GBK_PAGE.encode("big5", errors="ignore"), "utf-8", "big5", ("big5", None)),  # forced
])
def test_choose_encoding(body, declared, forced, expected):
    from spiders.charset import choose_encoding

    assert choose_encoding(body, declared, forced) == expected


def test_text_blocks_and_selector_syntax():
    from parsel import Selector

    from spiders.selectors import extract, extract_all, is_xpath

    page = Selector(text="""<div id="a"><p>第一段<b>加粗</b>文字。</p><script>var x='脚本';</script>
        <style>.c{}</style><p>第二段
        续行</p><br>尾部　文字<ul><li>甲</li><li>乙</li></ul></div><span class="d">2026-11-20</span>""")
    assert extract(page, "#a") == "第一段加粗文字。\n第二段\n续行\n尾部 文字\n甲\n乙"
    assert extract(page, "#a", one_line=True) == "第一段加粗文字。 第二段 续行 尾部 文字 甲 乙"
    assert extract(page, "//span[@class='d']/text()") == "2026-11-20"
    assert extract(page, "xpath:string(//span)") == "2026-11-20"
    assert extract(page, "span.d::text") == "2026-11-20"
    assert extract(page, "li") == "甲\n乙" and extract_all(page, "li") == ["甲", "乙"]
    assert extract(page, ".missing") == ""
    assert is_xpath("(//a)[1]") and is_xpath("xpath:.//a") and not is_xpath("a::attr(href)")
    with pytest.raises(ValueError, match="invalid selector"):
        extract(page, "div[[")
