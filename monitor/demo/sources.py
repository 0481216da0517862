"""Source configs that crawl the synthetic demo site written by :mod:`monitor.demo.site`.

The portal uses CSS selectors; the old-style GBK mailbox, which has no classes on its rows, is
read with XPath by the label of each row (「来信标题」, 「回复内容」 …), as one would on a real
county site.  The mailbox is sent without a charset header; its ``<meta charset="gbk">`` is
enough for Scrapy, so no ``encoding`` is forced.
"""
from __future__ import annotations

from monitor.config import SourceConfig

PLACE = "示例县"
MAX_PAGES = 10  # the site has 8 list pages per section; pagination follows 「下一页」


def _row(label: str, text: bool = True) -> str:
    # The <td> after the <th> holding ``label``; its text node for one-line fields.
    return f"//th[normalize-space()='{label}']/following-sibling::td[1]" + ("/text()" if text
                                                                           else "")


def demo_sources(base_url: str) -> list[SourceConfig]:
    """The demo's three sources (portal news, 县长信箱, city RSS) for a site served at ``base_url``."""
    base = base_url.rstrip("/")
    news = SourceConfig(
        id="county-news", spider="news_list", channel="portal", own=True,
        name="示例县人民政府门户网站 · 新闻发布（演示）", url=f"{base}/news/index.html",
        max_pages=MAX_PAGES, place=PLACE, department="示例县人民政府办公室",
        selectors={
            "links": "ul.news-list li a::attr(href)",
            "next_page": "div.pager a.next::attr(href)",
            "title": "h1.title::text",
            "published": "span.pubtime::text",
            "content": "div.article-content",
            # the publishing unit without its 「来源：」 label
            "author": "xpath:substring-after(//span[@class='source'], '来源：')",
        },
    )
    mailbox = SourceConfig(
        id="county-mailbox", spider="message_board", channel="mailbox",
        name="示例县县长信箱（演示）", url=f"{base}/mailbox/index.html",
        max_pages=MAX_PAGES, place=PLACE, department="示例县人民政府办公室",
        selectors={
            "links": "table.letter-list td.title a::attr(href)",
            "next_page": "//div[@class='pager']/a[normalize-space()='下一页']/@href",
            "number": _row("信件编号"),
            "title": _row("来信标题"),
            "asker": _row("来信人"),
            "submitted": _row("来信时间"),
            "unit": _row("受理单位"),
            "question": _row("来信内容", text=False),
            "status": _row("办理状态"),
            "reply_unit": _row("回复单位"),
            "reply_time": _row("回复时间"),
            "reply": _row("回复内容", text=False),
        },
    )
    feed = SourceConfig(
        id="city-rss", spider="rss", channel="news", name="示例市新闻网 · 县区新闻（演示）",
        url=f"{base}/rss/news.xml", fetch_detail=True, place="示例市",
        selectors={"content": "#artibody"},
    )
    return [news, mailbox, feed]
