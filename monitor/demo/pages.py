"""HTML and RSS markup of the synthetic demo site (see :mod:`monitor.demo.site`).

Every page carries a visible footer and an HTML comment saying that it is synthetic.  The markup
is deliberately old-fashioned where real government sites are (a GBK table-layout mailbox with
labelled rows), because that is what the selectors of :mod:`monitor.demo.sources` must cope with.
"""
from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from html import escape

from monitor.demo.generate import Article, Letter
from monitor.demo.words import SYNTHETIC_COMMENT, SYNTHETIC_NOTICE

PORTAL = "示例县人民政府（演示）"
CITY_SITE = "示例市新闻网（演示）"
STATUS_REPLIED, STATUS_PENDING = "已回复", "办理中"


def page(title: str, body: str, *, site: str = PORTAL, charset: str = "utf-8") -> str:
    """A whole HTML page: header, navigation, ``body``, and the synthetic-data footer."""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="{charset}">
<title>{escape(title)} - {site}</title>
</head>
<body>
<!-- {SYNTHETIC_COMMENT} -->
<div class="header"><a class="logo" href="/index.html">{site}</a>
<ul class="nav"><li><a href="/index.html">首页</a></li><li><a href="/news/index.html">新闻发布</a></li>
<li><a href="/mailbox/index.html">县长信箱</a></li><li><a href="/rss/news.xml">示例市新闻网 RSS</a></li></ul>
</div>
<div class="main">
{body}
</div>
<div class="footer">
<p class="synthetic-notice">{SYNTHETIC_NOTICE}</p>
<p>主办：示例县人民政府办公室（虚构） 联系电话：0000-0000000（演示号码）</p>
</div>
</body>
</html>
"""


def _paras(paragraphs: list[str]) -> str:
    return "".join(f"<p>{escape(p)}</p>" for p in paragraphs)


def pager(page_no: int, pages: int, total: int, unit: str) -> str:
    """首页 / 上一页 / 下一页 / 尾页 links; list page N > 1 is ``index.html?page=N``."""
    def href(n: int) -> str:
        return "index.html" if n == 1 else f"index.html?page={n}"

    parts = [f"<span class=\"total\">共{total}{unit} 第{page_no}/{pages}页</span>",
             f"<a href=\"{href(1)}\">首页</a>"]
    parts.append(f"<a class=\"prev\" href=\"{href(page_no - 1)}\">上一页</a>" if page_no > 1
                 else "<span class=\"disabled\">上一页</span>")
    parts.append(f"<a class=\"next\" href=\"{href(page_no + 1)}\">下一页</a>" if page_no < pages
                 else "<span class=\"disabled\">下一页</span>")
    parts.append(f"<a href=\"{href(pages)}\">尾页</a>")
    return "<div class=\"pager\">" + " ".join(parts) + "</div>"


def news_list(items: list[Article], page_no: int, pages: int, total: int) -> str:
    """One page of the county portal's 新闻发布 list."""
    rows = "\n".join(
        f"<li><a href=\"{a.path}\" title=\"{escape(a.title)}\" target=\"_blank\">{escape(a.title)}"
        f"</a><span class=\"date\">{a.published:%Y-%m-%d}</span></li>" for a in items)
    body = (f"<div class=\"crumb\">当前位置：首页 &gt; 新闻发布</div>\n<h2>新闻发布</h2>\n"
            f"<ul class=\"news-list\">\n{rows}\n</ul>\n{pager(page_no, pages, total, '条')}")
    return page("新闻发布", body)


def news_detail(a: Article) -> str:
    """A county-portal article page."""
    body = (f"<div class=\"crumb\">当前位置：首页 &gt; <a href=\"/news/index.html\">新闻发布</a></div>\n"
            f"<div class=\"article\">\n<h1 class=\"title\">{escape(a.title)}</h1>\n"
            f"<div class=\"info\"><span class=\"pubtime\">{a.published:%Y-%m-%d %H:%M}</span>"
            f" <span class=\"source\">来源：{escape(a.source)}</span>"
            f" <span class=\"views\">浏览次数：{(a.number * 37) % 900 + 60}</span></div>\n"
            f"<div class=\"article-content\">{_paras(a.paragraphs)}</div>\n"
            "<div class=\"share\">【<a href=\"javascript:window.print()\">打印本页</a>】"
            "【<a href=\"javascript:window.close()\">关闭窗口</a>】</div>\n</div>")
    return page(a.title, body)


def city_detail(a: Article) -> str:
    """A 示例市新闻网 article page (the target of an RSS item's link)."""
    body = (f"<div class=\"news-detail\">\n<h1>{escape(a.title)}</h1>\n"
            f"<div class=\"meta\">发布时间：{a.published:%Y-%m-%d %H:%M}　来源：{escape(a.source)}</div>\n"
            f"<div id=\"artibody\">{_paras(a.paragraphs)}</div>\n"
            "<div class=\"editor\">（责任编辑：演示）</div>\n</div>")
    return page(a.title, body, site=CITY_SITE)


def letter_status(letter: Letter) -> str:
    """已回复 or 办理中."""
    return STATUS_REPLIED if letter.reply else STATUS_PENDING


def mailbox_list(letters: list[Letter], page_no: int, pages: int, total: int) -> str:
    """One page of the 县长信箱 list (a table; encode the result as GBK)."""
    rows = "\n".join(
        f"<tr><td class=\"title\"><a href=\"{letter.path.removeprefix('/mailbox/')}\" "
        f"title=\"{escape(letter.title)}\">{escape(letter.title)}</a></td>"
        f"<td>{escape(letter.unit)}</td><td>{letter.submitted:%Y-%m-%d}</td>"
        f"<td class=\"status\">{letter_status(letter)}</td></tr>" for letter in letters)
    body = ("<h2>县长信箱</h2>\n<p class=\"intro\">来信选登（已回复信件及办理中信件）</p>\n"
            "<table class=\"letter-list\" width=\"100%\" border=\"0\" cellspacing=\"0\">\n"
            "<tr class=\"head\"><th>信件标题</th><th>受理单位</th><th>来信日期</th><th>状态</th></tr>\n"
            f"{rows}\n</table>\n{pager(page_no, pages, total, '封')}")
    return page("县长信箱", body, charset="gbk")


def _row(label: str, value: str) -> str:
    return f"<tr><th width=\"120\">{label}</th><td>{value}</td></tr>"


def mailbox_detail(letter: Letter) -> str:
    """A letter's page with labelled table rows; the reply block only when answered."""
    shown_time = letter.submitted_text or f"{letter.submitted:%Y-%m-%d %H:%M}"
    rows = [_row("信件编号", letter.number), _row("来信标题", escape(letter.title)),
            _row("来信人", escape(letter.asker)), _row("来信时间", escape(shown_time)),
            _row("受理单位", escape(letter.unit)), _row("来信内容", _paras(letter.paragraphs)),
            _row("办理状态", letter_status(letter))]
    body = ("<h2>县长信箱 &gt; 信件详情</h2>\n<table class=\"letter-detail\" border=\"1\" "
            "cellspacing=\"0\" width=\"100%\">\n" + "\n".join(rows) + "\n</table>\n")
    if letter.reply and letter.reply_time:
        reply = [_row("回复单位", escape(letter.unit)),
                 _row("回复时间", f"{letter.reply_time:%Y-%m-%d %H:%M}"),
                 _row("回复内容", _paras(letter.reply))]
        body += ("<table class=\"reply-detail\" border=\"1\" cellspacing=\"0\" width=\"100%\">\n"
                 + "\n".join(reply) + "\n</table>\n")
    body += "<p><a href=\"../index.html\">返回列表</a></p>"
    return page(letter.title, body, charset="gbk")


def home(news: int, letters: int, feed: int) -> str:
    """The site's front page: what the demo contains and where."""
    body = ("<h2>演示站点</h2>\n<p class=\"synthetic-notice\">" + SYNTHETIC_NOTICE + "。</p>\n<ul>"
            f"<li><a href=\"/news/index.html\">示例县人民政府门户 · 新闻发布</a>（{news}篇）</li>"
            f"<li><a href=\"/mailbox/index.html\">示例县县长信箱</a>（{letters}封，GBK 编码）</li>"
            f"<li><a href=\"/rss/news.xml\">示例市新闻网 RSS</a>（{feed}条）</li></ul>")
    return page("首页", body)


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def rss(items: list[Article], now: datetime, base_url: str = "") -> str:
    """The 示例市新闻网 RSS 2.0 feed, newest first; links are root-relative unless ``base_url``."""
    entries = "\n".join(
        f"<item>\n<title>{escape(a.title)}</title>\n<link>{escape(base_url + a.path)}</link>\n"
        f"<guid isPermaLink=\"false\">citynews-{a.number:04d}</guid>\n"
        f"<pubDate>{format_datetime(a.published)}</pubDate>\n<category>县区新闻</category>\n"
        f"<description>{_cdata(_paras(a.paragraphs))}</description>\n</item>" for a in items)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<!-- {SYNTHETIC_COMMENT} -->
<rss version="2.0">
<channel>
<title>{CITY_SITE} · 县区新闻</title>
<link>{escape(base_url)}/index.html</link>
<description>示例市新闻网县区新闻。{SYNTHETIC_NOTICE}。</description>
<language>zh-cn</language>
<lastBuildDate>{format_datetime(now)}</lastBuildDate>
{entries}
</channel>
</rss>
"""
