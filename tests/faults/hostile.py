"""Seeded generator of hostile web inputs for the fault suite (issue 6): article and letter pages.

Everything is built from ``random.Random(seed)``, so one seed always gives the same bytes.  An
input is a :class:`Case`: a kind (the tally groups by it), a unique name (its URL path), the
:class:`Response` the loopback server sends, and what must come of it — ``expect="stored"``
when the page carries content the monitor must keep (a lying charset, script text, an odd
date), with ``phrase``, words the stored document must contain.  Other cases may end as a
document, a counted skip or a counted error; only a crash or a silent drop fails.

Feeds and JSON records are in :mod:`hostile_feeds`, source files, queries and documents for
the in-process checks in :mod:`hostile_local`.
"""
from __future__ import annotations

import gzip
import random
from dataclasses import dataclass, field
from typing import Callable

#: Content words of ordinary 政务 pages (the base text every case is built on).
TOPICS = ["道路改造", "低保发放", "垃圾分类", "学校围墙", "小区停车", "供暖管道", "医保报销",
          "拆迁补偿", "路灯维修", "噪音扰民", "排水管网", "公交线路", "农村饮水", "养老服务",
          "食品安全", "电梯加装", "物业收费", "河道治理", "菜市场改造", "幼儿园入学"]
SENTENCES = ["{t}问题群众反映强烈，希望有关部门尽快处理。", "关于{t}的情况，我们已经多次反映。",
             "{t}工作进展缓慢，附近居民意见很大。", "请问{t}什么时候能够完成？",
             "经核实，{t}一事已转交相关单位办理。", "{t}涉及周边三个小区近两千户居民。",
             "现将{t}有关情况公示如下，接受社会监督。", "{t}已列入今年的民生实事项目。"]
SURNAMES = "张王李赵刘陈杨黄周吴"

HTML = "text/html; charset=utf-8"
#: Dates of every odd shape (odd, impossible, relative, huge, empty).
ODD_DATES = [
    "2026-02-30", "2026-13-01", "0000-00-00", "9999-12-31 23:59:59", "1900-01-01", "10000-01-01",
    "2026年11月24日 星期二 09:30", "上午9点半", "昨天 25:61", "99999999999天前", "1e308秒前",
    "2026-11-24T09:30:00+25:00", "二〇二六年十一月", "1732412345", "9999999999999", "NaN",
    "Infinity", "", "   ", "2026/11/24 24:00", "2026-11-24 09:30:60", "2026-11-31", "0001-01-01",
    "-1天前", "3分钟后", "明天", "公元前221年", "2026-11-24" * 200, "9" * 400 + "年1月1日",
    "Tue, 31 Feb 2026 25:00:00 +9999", "\x00\x07 2026-11-24", "2038-01-19 03:14:08",
    "1970-01-01 00:00:00", "2026年11月24日 星期八 09:30", "下午13点", "1000000周前", "刚刚刚刚",
]
#: Numbers as pages print engagement counts (and a few no parser should accept).
HUGE_NUMBERS = ["1e308", "99999999999999999999", "1.2万", "10w+", "-5", "NaN", "Infinity",
                "9" * 5000, "0x7fffffffffffffff", "1,234,567", "３万", "-0", "1e-400", "10亿+"]
#: Script, SQL and FTS5 syntax that must be stored as text and never run or parse.
INJECTIONS = ["'); DROP TABLE documents;--", "\" OR \"\"=\"", "1; DELETE FROM documents_fts",
              "NEAR(政府 回应, 2)", "title:围墙", "{title text}: 低保", "^开头 *", "\"未闭合的引号",
              "${jndi:ldap://127.0.0.1/x}", "{{7*7}}", "$(rm -rf /)", "%_% LIKE", "\\x00\\'",
              "AND OR NOT", "documents_fts MATCH '*'", "); PRAGMA writable_schema=1;--"]
#: Characters that break naive text handling (controls, invisible and bidi marks).
CONTROL_CHARS = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x9f",
                 "\ufeff", "\u200b", "\u202e", "\u2028", "\u2029", "\ufffe", "\uffff"]
#: Numeric character references that name no character (or one XML forbids).
BAD_REFS = ["&#0;", "&#x1;", "&#xD800;", "&#xDFFF;", "&#x110000;", "&#65535;", "&#99999999999;",
            "&#x;", "&#;", "&nosuch;", "&amp", "&#x1F600"]
#: Byte sequences that are not UTF-8.
BAD_UTF8 = [b"\xc0\xaf", b"\xe0\x80\xaf", b"\x80", b"\xbf\xbf", b"\xe4\xb8", b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80", b"\xf5", b"\xff\xfe", b"\xfe", b"\xf0\x9f\x98"]


@dataclass
class Response:
    """What the loopback server sends for one path (see :mod:`_hostile_server`)."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = HTML
    headers: tuple[tuple[str, str], ...] = ()
    mode: str = "send"  # send | trickle | abort | close | redirect
    location: str | None = None
    interval: float = 0.25  # trickle: seconds between chunks
    seconds: float = 10.0  # trickle: give up after this long
    chunk: int = 8


@dataclass
class Case:
    """One hostile input: a page (or a record, an entry) and what must come of it."""

    kind: str
    name: str
    response: Response
    expect: str = ""  # "stored": must become a document containing ``phrase``; "" = any outcome
    phrase: str = ""
    extra: dict = field(default_factory=dict)  # per-site details (a record, an entry)


@dataclass
class Content:
    """The readable content of one page before it is made hostile."""

    title: str
    paragraphs: list[str]
    date: str
    author: str
    number: str = ""
    reply: str = ""
    unit: str = ""
    status: str = "已回复"


def content(rng: random.Random, tag: str) -> Content:
    """Ordinary page content; ``tag`` (ASCII, e.g. ``hx0042``) makes it findable."""
    topic = rng.choice(TOPICS)
    paras = [rng.choice(SENTENCES).format(t=topic) + rng.choice(SENTENCES).format(t=topic)
             for _ in range(rng.randint(2, 4))]
    paras[0] = f"样本{tag}：" + paras[0]
    day = f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d} {rng.randint(8, 18):02d}:" \
          f"{rng.randint(0, 59):02d}"
    return Content(title=f"{topic}情况反映{tag}", paragraphs=paras, date=day,
                   author=rng.choice(SURNAMES) + "先生", number=f"LY2026-{tag}",
                   reply=f"您好：您反映的{topic}问题已收悉，现答复如下。", unit="某县城市管理局")


def article_html(c: Content, meta: str | None = "utf-8", head_extra: str = "",
                 body_extra: str = "") -> str:
    """A news article page (selectors: h1.title, .time, div.content, .author)."""
    meta_tag = f'<meta charset="{meta}">' if meta else ""
    paras = "".join(f"<p>{p}</p>" for p in c.paragraphs)
    return (f"<!DOCTYPE html><html><head>{meta_tag}<title>{c.title} - 某县人民政府</title>"
            f"{head_extra}</head><body><div class=\"nav\"><a href=\"/\">首页</a></div>"
            f"<h1 class=\"title\">{c.title}</h1><div class=\"info\">发布时间：<span class=\"time\">"
            f"{c.date}</span> 来源：<span class=\"author\">{c.author}</span></div>"
            f"<div class=\"content\">{paras}</div>{body_extra}"
            f"<div class=\"footer\">版权所有 某县人民政府</div></body></html>")


def letter_html(c: Content, meta: str | None = "utf-8", head_extra: str = "",
                body_extra: str = "") -> str:
    """A 信箱 letter page with its reply (selectors in :data:`LETTER_SELECTORS`)."""
    meta_tag = f'<meta charset="{meta}">' if meta else ""
    question = "".join(f"<p>{p}</p>" for p in c.paragraphs)
    return (f"<html><head>{meta_tag}<title>{c.title}</title>{head_extra}</head><body>"
            f"<h1 class=\"title\">{c.title}</h1><table><tr><td>信件编号：<span class=\"no\">"
            f"{c.number}</span></td><td>来信时间：<span class=\"date\">{c.date}</span></td></tr>"
            f"<tr><td>来信人：<span class=\"asker\">{c.author}</span></td><td>状态：<span "
            f"class=\"status\">{c.status}</span></td></tr></table><div class=\"question\">"
            f"{question}</div><div class=\"reply\"><div class=\"unit\">{c.unit}</div><div "
            f"class=\"reply-text\">{c.reply}</div><span class=\"rtime\">2026-11-30</span></div>"
            f"{body_extra}</body></html>")


ARTICLE_SELECTORS = {"links": "ul.news a", "title": "h1.title", "published": ".time",
                     "content": "div.content", "author": ".author"}
LETTER_SELECTORS = {"links": "table.list a", "title": "h1.title", "number": ".no",
                    "submitted": ".date", "asker": ".asker", "status": ".status",
                    "question": "div.question", "reply": ".reply-text", "reply_unit": ".unit",
                    "reply_time": ".rtime"}

Page = Callable[..., str]


class Builder:
    """Makes the cases of one HTML site (articles or letters) from one seeded generator."""

    def __init__(self, rng: random.Random, page: Page, prefix: str, path: str):
        self.rng, self.page, self.prefix, self.path = rng, page, prefix, path
        self.cases: list[Case] = []
        self.seq = 0

    def tag(self) -> str:
        self.seq += 1
        return f"{self.prefix}{self.seq:04d}"

    def url_path(self, name: str) -> str:
        return f"{self.path}/{name}.html"

    def add(self, kind: str, response: Response, tag: str, expect: str = "",
            phrase: str = "", **extra: object) -> Case:
        case = Case(kind, tag, response, expect, phrase, dict(extra))
        self.cases.append(case)
        return case

    def html(self, kind: str, *, expect: str = "", encoding: str = "utf-8",
             meta: str | None = "utf-8", ctype: str | None = HTML,
             edit: Callable[[Content], None] | None = None, head_extra: str = "",
             body_extra: str = "", mangle: Callable[[bytes], bytes] | None = None,
             phrase_of: Callable[[Content], str] | None = None, **resp: object) -> Case:
        """An ordinary page, edited, encoded and mangled as asked."""
        tag = self.tag()
        c = content(self.rng, tag)
        if edit is not None:
            edit(c)
        body = self.page(c, meta=meta, head_extra=head_extra, body_extra=body_extra)
        data = body.encode(encoding, errors="xmlcharrefreplace")
        if mangle is not None:
            data = mangle(data)
        phrase = phrase_of(c) if phrase_of else c.paragraphs[0][:12]
        return self.add(kind, Response(body=data, content_type=ctype, **resp), tag, expect,
                        phrase)


def _cut(rng: random.Random) -> Callable[[bytes], bytes]:
    return lambda data: data[: rng.randint(0, len(data))]


MALFORMED = [  # (name, edit of the page text): each keeps its content somewhere on the page
    ("unclosed tags", lambda s: s.replace("</p>", "").replace("</div>", "")),
    ("stray end of document", lambda s: s.replace("<div class=\"content\">",
                                                  "</body></html><div class=\"content\">")),
    ("angle brackets", lambda s: s.replace("<p>", "<<p>>", 1) + "<<<>>><//>"),
    ("unclosed comment", lambda s: s.replace("<div class=\"footer\">", "<!-- <div>")),
    ("unclosed script", lambda s: s.replace("<div class=\"footer\">", "<script>var a = '")),
    ("garbage attributes", lambda s: s.replace("<p>", "<p class=\"a\"b'c=d e=>", 1)),
    ("empty tags", lambda s: s.replace("<h1", "<><></><h1")),
    ("two html elements", lambda s: s + s),
    ("body inside p", lambda s: s.replace("<p>", "<p><body><html>", 1)),
    ("cdata and pi", lambda s: s.replace("<p>", "<![CDATA[ x ]]><?php echo 1; ?><p>", 1)),
    ("mismatched nesting", lambda s: s.replace("<p>", "<b><i><p>").replace("</p>", "</b></p></i>")),
    ("xml declaration", lambda s: "<?xml version=\"1.0\" encoding=\"gbk\"?>" + s),
    ("unterminated tag at end", lambda s: s + "<div class=\"x"),
    ("no html or body", lambda s: s.split("<body>", 1)[1].split("</body>")[0]),
    ("uppercase and whitespace", lambda s: s.replace("<p>", "<P   \n\t>").replace("</p>", "</P >")),
    ("null bytes in markup",
     lambda s: s.replace("<p>", "<p\x00>", 1).replace("</h1>", "\x00</h1>")),
]


def _deep(tag: str, depth: int, inner: str, closed: bool = True) -> str:
    return f"<{tag}>" * depth + inner + (f"</{tag}>" * depth if closed else "")


def _numbers(rng: random.Random) -> str:
    return "".join(f"<span class=\"views\">浏览次数：{n}</span><span>点赞 {m}</span>"
                   for n, m in zip(rng.sample(HUGE_NUMBERS, 3), rng.sample(HUGE_NUMBERS, 3)))


def _binary(rng: random.Random, size: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(size))


def _bomb(size: int) -> bytes:
    return gzip.compress(b"\0" * size, compresslevel=9)


def html_site(rng: random.Random, page: Page, prefix: str, path: str,
              letters: bool = False) -> list[Case]:
    """Every kind of bad page for one HTML site (≈ 130 cases); see the module docstring."""
    b = Builder(rng, page, prefix, path)
    for _ in range(8):
        b.html("valid", expect="stored")
    for _ in range(16):
        b.html("truncated html", mangle=_cut(rng))
    for name, edit in MALFORMED:
        keep = name not in ("unclosed comment", "unclosed script", "unterminated tag at end",
                            "null bytes in markup")
        b.html("malformed html", expect="stored" if keep else "",
               mangle=lambda d, e=edit: e(d.decode("utf-8")).encode("utf-8"))
    _charsets(b)
    for depth, tag, closed in ((10_000, "div", True), (10_000, "span", False),
                               (10_000, "table", True), (3_000, "b", True), (10_000, "li", False)):
        # content above the nesting must survive it; content below may be cut by the parser
        b.html("deep nesting", expect="stored",
               body_extra=_deep(tag, depth, "最深处的文字", closed))
        b.html("deep nesting", body_extra="",
               edit=lambda c, t=tag, d=depth, cl=closed: c.paragraphs.insert(
                   1, _deep(t, d, "嵌套底部的正文内容" * 3, cl)))
    for text in INJECTIONS:
        b.html("script and sql", expect="stored", phrase_of=lambda c, t=text: t[:10],
               edit=lambda c, t=text: c.paragraphs.append(t.replace("&", "&amp;")
                                                          .replace("<", "&lt;")))
    b.html("script and sql", expect="stored",
           body_extra="<script>document.write('<h1>假标题</h1>');</script><style>p{}</style>",
           edit=lambda c: c.paragraphs.append("<script>alert('x')</script>正文<img src=x "
                                              "onerror=alert(1)><iframe src=javascript:1>"))
    for i, ch in enumerate(CONTROL_CHARS):
        b.html("control characters", expect="stored", phrase_of=lambda c: c.paragraphs[1][:8],
               edit=lambda c, ch=ch: (setattr(c, "title", c.title + ch + "标题"),
                                      c.paragraphs.__setitem__(0, ch.join(c.paragraphs[0]))))
    for ref in BAD_REFS:
        b.html("control characters", expect="stored", phrase_of=lambda c: c.paragraphs[1][:8],
               edit=lambda c, r=ref: (setattr(c, "title", c.title + r),
                                      c.paragraphs.__setitem__(0, c.paragraphs[0] + r)))
    for seq in BAD_UTF8:
        b.html("invalid utf-8", expect="stored", phrase_of=lambda c: c.paragraphs[1][:8],
               mangle=lambda d, s=seq: d.replace("。".encode(), s, 2))
    for date in ODD_DATES:
        b.html("odd dates", expect="stored", edit=lambda c, d=date: setattr(c, "date", d))
    for _ in range(6):
        b.html("huge numbers", expect="stored", body_extra=_numbers(rng),
               edit=lambda c: setattr(c, "number", rng.choice(HUGE_NUMBERS)) if letters
               else None)
    _transport(b, rng)
    if letters:
        _duplicate_numbers(b)
    return b.cases


def _charsets(b: Builder) -> None:
    """Lying and missing charset declarations (GBK, GB18030, Big5, UTF-16, UTF-8)."""
    lies = [  # (encoding of the bytes, <meta>, Content-Type, must the text come out right?)
        ("gbk", "utf-8", HTML, True), ("utf-8", "gb2312", HTML, True),
        ("utf-8", "gbk", "text/html; charset=gbk", True), ("gbk", "gbk", HTML, True),
        ("gb18030", "gb2312", "text/html; charset=gb2312", True),
        ("gbk", "utf-8", "text/html; charset=iso-8859-1", True),
        ("big5", "gb2312", HTML, False), ("big5", "utf-8", "text/html; charset=utf-8", False),
        ("utf-16", "utf-8", HTML, True), ("utf-16-le", "utf-8", "text/html; charset=utf-8", False),
        ("utf-8", "utf-8", "text/html; charset=no-such-charset", True),
        ("utf-8", "x-user-defined", "text/html; charset=\"utf-8\"", True),
        ("gbk", "utf-16", "text/html; charset=utf-16", False),
        ("utf-8", "utf-7", "text/html; charset=utf-7", False),
        ("utf-8", "rot13", "text/html; charset=zlib", False),
    ]
    missing = [("gbk", True), ("gb18030", True), ("utf-8", True), ("big5", False),
               ("utf-16", True), ("utf-16-be", False), ("utf-32", False)]
    for enc, meta, ctype, right in lies:
        b.html("lying charset", expect="stored" if right else "", encoding=enc, meta=meta,
               ctype=ctype, edit=_rare_chars if enc == "gb18030" else None)
    for enc, right in missing:
        b.html("missing charset", expect="stored" if right else "", encoding=enc, meta=None,
               ctype="text/html", edit=_rare_chars if enc == "gb18030" else None)


def _rare_chars(c: Content) -> None:
    c.paragraphs[0] = "㐀䶮𠀀" + c.paragraphs[0]  # outside GBK: four bytes in GB18030


def _transport(b: Builder, rng: random.Random) -> None:
    """Redirect loops, slow and aborted responses, HTTP errors, empty and binary bodies."""
    loops = [("self", "{self}"), ("two-step", "{self}x"), ("endless chain", "{self}?n={n}"),
             ("to javascript", "javascript:alert(1)"), ("to bad host", "http://[::1/x"),
             ("to bad port", "http://127.0.0.1:99999/x"), ("no location", None),
             ("to a 404", "/no/such/page.html"), ("to ftp", "ftp://127.0.0.1/x")]
    for name, target in loops:
        tag = b.tag()
        here = b.url_path(tag)
        location = None if target is None else target.replace("{self}", here)
        also = ({here + "x": Response(status=301, mode="redirect", location=here)}
                if name == "two-step" else {})  # /x.htmlx → back to the page
        b.add("redirect loop", Response(status=302, mode="redirect", location=location), tag,
              route=name, also=also)
    tag = b.tag()
    moved = b.url_path(tag) + "-moved"
    c = content(b.rng, tag)
    b.add("redirect loop", Response(status=301, mode="redirect", location=moved), tag,
          expect="stored", phrase=c.paragraphs[0][:12],
          also={moved: Response(body=b.page(c).encode("utf-8"))})
    # a page trickling far beyond the download timeout, and one that trickles for half a second
    b.html("slow server", mode="trickle", seconds=20.0, interval=0.5)
    fast = b.html("slow server", expect="stored", mode="trickle", interval=0.05)
    fast.response.chunk = len(fast.response.body) // 10 + 1
    b.html("slow server", mode="abort")
    b.html("slow server", mode="close", expect="stored")
    for status in (404, 410, 500, 502, 403, 429, 503, 418, 999):
        b.add("http error", Response(status=status, body=b"<html><body>error</body></html>"),
              b.tag())
    b.html("http error", status=404, expect="")  # a 404 with a full page: not a document
    b.html("soft error page", edit=lambda c: (
        setattr(c, "title", "404 页面不存在"),
        setattr(c, "paragraphs", ["抱歉，您访问的页面不存在或已被删除！"])))
    empties = [(b"", HTML), (b"   \n\t  ", HTML), (b"<html></html>", HTML),
               (b"\xef\xbb\xbf", HTML), (b"", None), (b"<html><body></body></html>", "text/plain")]
    for body, ctype in empties:
        b.add("empty body", Response(body=body, content_type=ctype), b.tag())
    b.add("empty body", Response(status=204, body=b""), b.tag())
    binaries = [_binary(rng, 4096), b"\x89PNG\r\n\x1a\n" + _binary(rng, 2000),
                b"%PDF-1.4\n" + _binary(rng, 2000), gzip.compress(b"<html>x</html>" * 50),
                b"\x00" * 3000, _binary(rng, 200_000)]
    for body in binaries:
        b.add("binary body", Response(body=body), b.tag())
    b.add("binary body", Response(body=b"\x1f\x8b\x08\x00broken gzip",
                                  headers=(("Content-Encoding", "gzip"),)), b.tag())
    b.add("binary body", Response(body=_bomb(64 * 1024 * 1024),
                                  headers=(("Content-Encoding", "gzip"),)), b.tag())
    b.html("binary body", expect="stored", ctype="application/octet-stream")
    b.html("binary body", ctype="image/png")
    b.html("binary body", expect="stored", ctype="text/html; charset=utf-8",
           headers=(("Content-Encoding", "identity"),))
    long = b.html("bad links")  # linked by an address longer than Scrapy fetches (2083)
    long.extra["href"] = f"{b.path}/{long.name}-{'长' * 1200}.html"


def _duplicate_numbers(b: Builder) -> None:
    """Letters sharing one number: different letters (both kept), the same letter twice (one)."""
    for i in range(4):
        shared = f"DUP-{i:03d}"
        for _ in range(2):
            b.html("duplicate letter number", expect="stored",
                   edit=lambda c, s=shared: setattr(c, "number", s))
    for i in range(3):
        first = b.html("duplicate letter number", expect="stored",
                       edit=lambda c, i=i: setattr(c, "number", f"SAME-{i}"))
        twin = b.tag()
        b.add("duplicate letter number", Response(body=first.response.body), twin,
              expect="stored", phrase=first.phrase, twin_of=first.name)
    b.html("duplicate letter number", expect="stored",
           edit=lambda c: setattr(c, "number", "编号：" + "9" * 3000))
