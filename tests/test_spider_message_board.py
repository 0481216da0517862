"""message_board spider: the real Shanghai 领导信箱 pages and a synthetic GBK 市长信箱.

The Shanghai columns share one template but use prefixed ids on one (``ctl00_..._lblName``) and
bare ids on the other (``lblName``), so the source selects by id suffix.  The synthetic board
(tests/fixtures/pages/board/*.synthetic.html) adds what the real pages lack: GBK, list
pagination, a pending letter, a broken page, a 404 link, a page without a charset declaration
and one with bytes no decoder accepts.  Another synthetic board (board_plain/) has short GBK
pages that declare no charset at all, relative dates, and a letter number selector that matches
a page-wide element.
"""
from __future__ import annotations

import json
import shutil
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from conftest import FIXTURES, shared_data
from monitor.config import SourceConfig, load_config
from monitor.crawl import run_crawls
from monitor.documents import make_doc_id
from monitor.localsite import serve_directory
from monitor.starter import write_config

SH = ZoneInfo("Asia/Shanghai")
SHANGHAI_SELECTORS = {
    "links": "#Datatable-1 a[href*=feedbackshow]::attr(href)", "title": "[id$=lblName]",
    "submitted": "[id$=lblDate]", "question": "[id$=lblContent]",
    "reply_time": "[id$=lblReDate]", "reply_unit": "[id$=lblReCompany]",
    "reply": "[id$=lblReDontent]", "number": "[id$=lblSerialNumber]",
}
SHANGHAI = {  # column → (list file, detail file, id of the first letter on the list)
    "swld": ("swld_ldxx_feedbacklist.html", "swld_ldxx_feedbackshow.html",
             "37FDD95D4D0E4110B6DC86C9516E9702"),
    "szzc": ("szzc_hfxd_feedbacklist.html", "szzc_hfxd_feedbackshow.html",
             "6A1C13FD2D4C4F6A81E380928E6EDBA8"),
}
BOARD_SELECTORS = {
    "links": "table.list td.title a", "next_page": "//div[@class='pager']/a[text()='下一页']/@href",
    "title": "h1.letter-title", "question": "div.letter-body", "asker": ".asker",
    "submitted": ".submitted::text", "unit": ".unit", "number": "xpath://span[@class='no']/text()",
    "reply": "div.reply-body", "reply_unit": ".reply-unit", "reply_time": ".reply-time",
    "status": ".status",
}

PLAIN_SELECTORS = {"links": "ul.l a", "title": "h1", "question": "div.q", "submitted": ".t",
                   "number": ".no"}  # ".no" is the site's id, the same on every page


@pytest.fixture(scope="module")
def crawls(tmp_path_factory):
    """Dry-run crawls of both Shanghai columns and the synthetic board, two at a time."""
    samples = shared_data("gov_message_samples", "shanghai_xfb_leader_mailbox_siriAo")
    root = tmp_path_factory.mktemp("boards")
    overrides = {}
    for column, (list_file, detail_file, letter_id) in SHANGHAI.items():
        folder = root / column / "feedback"
        folder.mkdir(parents=True)
        (folder / "feedbacklist").symlink_to(samples / list_file)
        (folder / f"feedbackshow__id={letter_id}").symlink_to(samples / detail_file)
        overrides[f"/{column}/feedback/feedbacklist"] = "text/html"
        overrides[f"/{column}/feedback/feedbackshow__id={letter_id}"] = "text/html"
    shutil.copytree(FIXTURES / "pages" / "board", root / "board")
    shutil.copytree(FIXTURES / "pages" / "board_plain", root / "board_plain")
    with serve_directory(root, charset=None, overrides=overrides) as base:
        sources = [
            SourceConfig(id=f"sh-{column}", spider="message_board", channel="mailbox",
                         url=f"{base}/{column}/feedback/feedbacklist?testpara=0&pageNo=1&pagesize=10",
                         max_pages=1, max_items=1, place="上海市", selectors=SHANGHAI_SELECTORS)
            for column in SHANGHAI
        ] + [SourceConfig(id="board", spider="message_board", channel="board",
                          url=f"{base}/board/list.synthetic.html", max_pages=5,
                          department="某市人民政府办公室", selectors=BOARD_SELECTORS),
                       SourceConfig(id="board-plain", spider="message_board", channel="board",
                                    url=f"{base}/board_plain/list.synthetic.html",
                                    selectors=PLAIN_SELECTORS)]
        config_dir = tmp_path_factory.mktemp("cfg") / "config"
        write_config(config_dir, sources=sources, disabled=["sentiment_snownlp"])
        results = run_crawls(load_config(config_dir), [s.id for s in sources],
                             parallel=2, dry_run=True, timeout=120)
    return {r.source: r for r in results}


def _day(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def test_shanghai_leader_mailbox(crawls):
    result = crawls["sh-swld"]
    assert result.status == "ok", result.message + result.log_tail
    assert result.report["items"] == 1 and result.report["errors"] == 0
    assert result.report["warnings"]["not followed (max_items/limit)"] == 9
    (doc,) = result.items
    assert doc.kind == "message" and doc.channel == "mailbox" and doc.place == "上海市"
    assert doc.title == "加装电梯，设计方案没有公示，业主知情权被剥夺"
    assert doc.published_at == _day(2022, 9, 30)
    assert doc.text == "本人反映,加装电梯。\n本人认为,设计方案没有公示。\n本人要求,公示方案。"
    assert doc.platform_id == "Q20220930094335006"
    assert doc.status == "replied" and doc.replied
    assert doc.reply.unit == "上海市莘庄工业区" and doc.department == "上海市莘庄工业区"
    assert doc.reply.replied_at == _day(2022, 10, 26)
    assert doc.reply.text.startswith("马同志：\n您反映的信访事项本机关已受理。经研究，现答复如下：")
    assert doc.reply.text.endswith("特此告知。")
    assert result.report["selector_misses"] == {}


def test_shanghai_mayor_mailbox_bare_ids_and_masked_salutation(crawls):
    result = crawls["sh-szzc"]
    assert result.status == "ok", result.message + result.log_tail
    (doc,) = result.items
    assert doc.title == "山姆会员店夜间卸货扰民问题"
    assert doc.published_at == _day(2022, 9, 11)
    assert doc.text == "反映宝山山姆会员店每天晚上卸货噪音扰民，希望整改。"
    assert doc.platform_id == "Q20220911221880305"
    assert doc.reply.unit == "上海市宝山区大场镇人民政府"
    assert doc.reply.replied_at == _day(2022, 10, 26)
    assert doc.reply.text.startswith("颛孙**：您好！\n您于2022年9月11日反映山姆会员店夜间卸货扰民问题")
    assert doc.reply.text.endswith("上海市宝山区大场镇人民政府\n2022年9月27日")
    assert "颛孙国梁" not in json.dumps(doc.to_dict(), ensure_ascii=False)
    assert doc.status == "replied"


def test_synthetic_gbk_board(crawls):
    result = crawls["board"]
    report = result.report
    assert result.status == "ok", result.message + result.log_tail
    docs = {doc.platform_id: doc for doc in result.items}
    assert sorted(docs) == ["LY2026-0001", "LY2026-0002", "LY2026-0003", "LY2026-0004",
                            "LY2026-0005"]
    replied = docs["LY2026-0001"]
    assert replied.title == "小区门口道路积水严重，请求尽快修复排水管"
    assert replied.published_at == _day(2026, 11, 3, 15)
    assert replied.author == "张**" and replied.department == "某市城市管理局"
    assert replied.text.startswith("市长您好：\n我家住在幸福路88号小区")
    assert replied.status == "replied" and replied.extra["site_status"] == "已回复"
    assert replied.reply.text.startswith("张**同志：\n您好！您反映的幸福路88号小区门口积水问题已收悉。")
    assert replied.reply.replied_at == _day(2026, 11, 5, 10, 20)
    assert replied.reply.unit == "某市城市管理局"
    pending = docs["LY2026-0002"]
    assert pending.status == "pending" and pending.reply is None and not pending.replied
    assert pending.extra["site_status"] == "办理中" and pending.author == "李**"
    compound = docs["LY2026-0003"]
    assert compound.author == "欧阳**" and compound.reply.text.startswith("欧阳**：\n您好！")
    undeclared = docs["LY2026-0004"]  # no charset anywhere: still GBK, still readable
    assert undeclared.title == "菜市场噪音扰民" and undeclared.reply.text.startswith("您好：")
    assert docs["LY2026-0005"].title == "公交站台缺少遮雨棚"
    every = json.dumps([d.to_dict() for d in result.items], ensure_ascii=False)
    for full_name in ("张三丰", "欧阳小明", "李四", "王五"):
        assert full_name not in every
    assert report["items"] == 5 and report["pages"] == 9
    assert report["skipped"] == 1 and report["skip_reasons"] == {"no title or text": 1}
    assert report["error_kinds"] == {"HTTP 404": 1}
    assert report["warnings"]["undecodable bytes"] == 1
    assert report["selector_pages"]["next_page"] == 2 and report["selector_misses"]["next_page"] == 1
    assert report["selector_misses"]["title"] == 1  # the broken page
    assert any("broken.synthetic.html" in m for m in report["messages"])
    # the list page is not part of a letter: a letter moving to page 2 is not an update
    assert all("list_page" not in d.extra for d in result.items)
    assert all("date_relative" not in d.extra for d in result.items)


def test_short_undeclared_gbk_pages_relative_dates_and_a_page_wide_number(crawls):
    result = crawls["board-plain"]
    report = result.report
    assert result.status == "ok", result.message + result.log_tail
    # no charset anywhere and too short for Scrapy's guess (cp949, mac-latin2): read as GB18030
    by_title = {d.title: d for d in result.items}
    assert sorted(by_title) == ["井盖破损", "公厕脏乱", "路灯不亮"]
    assert by_title["路灯不亮"].text == "请处理。" and by_title["公厕脏乱"].text == "凌晨卸货。"
    assert report["warnings"]["charset corrected"] == 4  # the list page and three letters
    # every letter "has" the number ID 1100: one keeps it, the others get ids from their URLs
    assert report["warnings"]["duplicate letter number"] == 2
    assert sorted(d.platform_id or "-" for d in result.items) == ["-", "-", "ID 1100"]
    for doc in result.items:
        if doc.platform_id is None:
            assert doc.extra["number"] == "ID 1100"
            assert doc.id == make_doc_id("board-plain", url=doc.url)
    assert len({d.id for d in result.items}) == 3
    assert any("duplicate letter number 'ID 1100'" in m for m in report["messages"])
    # 「3小时前」「昨天 12:30」 are flagged (and rounded to the minute); a full date is not
    assert report["warnings"]["relative date"] == 2
    for title in ("路灯不亮", "井盖破损"):
        doc = by_title[title]
        assert doc.extra["date_relative"] is True
        assert doc.published_at.second == 0 and doc.published_at.microsecond == 0
    assert "date_relative" not in by_title["公厕脏乱"].extra
    assert by_title["公厕脏乱"].published_at == _day(2026, 11, 5)
    assert all("list_page" not in d.extra for d in result.items)


@pytest.mark.parametrize("name, masked", [
    ("张三丰", "张**"), ("李四", "李**"), ("欧阳小明", "欧阳**"), ("颛孙国梁", "颛孙**"),
    ("王女士", "王女士"), ("张三同志", "张**同志"), ("叶**", "叶**"), ("匿名", "匿名"),
    ("Tom Lee", "T**"), ("", None), (None, None),
])
def test_mask_name(name, masked):
    from spiders.privacy import mask_name

    assert mask_name(name) == masked


@pytest.mark.parametrize("reply, masked", [
    ("颛孙国梁：您好！\n您的来信已收悉。", "颛孙**：您好！\n您的来信已收悉。"),
    ("张三同志：\n您好！", "张**同志：\n您好！"),
    ("张小明，您好！", "张**，您好！"),
    ("尊敬的李四先生：", "尊敬的李**先生："),
    ("马同志：\n您反映的信访事项", "马同志：\n您反映的信访事项"),  # a surname only
    ("您好：\n已责成市场管理方", "您好：\n已责成市场管理方"),
    ("市民朋友：", "市民朋友："), ("经查：情况属实", "经查：情况属实"),
    ("叶**，您好：", "叶**，您好："), ("", ""),
])
def test_mask_salutation(reply, masked):
    from spiders.privacy import mask_salutation

    assert mask_salutation(reply) == masked

