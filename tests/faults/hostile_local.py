"""Seeded hostile inputs checked in process: source files, ``monitor.toml``, search queries and
documents (engagement counts, odd text) handed straight to the ingest pipeline.

* :func:`source_files` — ``sources/*.toml`` files: broken TOML, wrong types, bad values, odd
  file names, files that are not files.  Each must be a source or a one-line ConfigError.
* :func:`main_files` — ``monitor.toml`` variants (each its own configuration directory).
* :func:`queries` — what people (and scripts) type into ``monitor search``.
* :func:`documents` — documents with hostile fields for ``Ingestor`` and the store.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from hostile import CONTROL_CHARS, HUGE_NUMBERS, INJECTIONS, TOPICS

BASE = {"name": "来源", "spider": "news_list", "channel": "news",
        "url": "http://127.0.0.1:9/list.html"}


@dataclass
class FileCase:
    """One source file: its name under ``sources/`` and its bytes (or a special kind of path)."""

    kind: str
    name: str
    data: bytes = b""
    special: str = ""  # "" | dir | loop | dangling | fifo
    expect: str = ""  # "accept" | "reject" | "" (either, with a clean message)


def _toml(fields: dict, selectors: dict | None = None, raw: str = "") -> str:
    lines = [f"{k} = {v}" for k, v in fields.items()]
    if selectors:
        lines.append("[selectors]")
        lines.extend(f"{k} = {v}" for k, v in selectors.items())
    return "\n".join(lines) + "\n" + raw


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _base(**change: str | None) -> dict:
    fields = {k: _q(v) for k, v in BASE.items()}
    for key, value in change.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return fields


def source_files(rng: random.Random) -> list[FileCase]:
    """≈ 170 source files; names are unique, ``expect`` says what must happen where it is sure."""
    cases: list[FileCase] = []

    def add(kind: str, text: str | bytes, expect: str = "", special: str = "",
            name: str | None = None) -> None:
        data = text.encode("utf-8") if isinstance(text, str) else text
        cases.append(FileCase(kind, name or f"f{len(cases):03d}.toml", data, special, expect))

    good = _toml(_base(), {"links": _q("ul a")})
    add("valid", good, "accept")
    add("valid", _toml(_base(spider=_q("message_board"), channel=_q("hotline"),
                             format=_q("json")), {"items": _q("data.result")}), "accept")
    for _ in range(20):
        add("toml syntax", good[: rng.randint(1, len(good) - 2)])
    for text in ['name = "unclosed', "[selectors", 'a = 1\na = 2', 'name = "\\q"',
                 'name = "\x01"', 'name = "tab\there"', "name = ", "= 1", "[[selectors]]",
                 'name = """never closed', "spider = news_list", "a.b = 1\na = 2",
                 "1 = 2 = 3", "[selectors]\n[selectors]", 'name = "x" # \x00', "\x00" * 20,
                 "name = 1979-05-27T25:99:99", "name = 0x", "name = inf\nmax_pages = nan"]:
        add("toml syntax", text, "reject")
    for enc in ("gbk", "utf-16", "utf-32", "big5", "latin-1"):
        text = _toml(_base(name=_q("县长信箱 中文名")), {"links": _q("ul a")})
        add("file encoding", text.encode(enc, errors="replace"),
            "reject" if enc != "latin-1" else "")
    add("file encoding", b"\xef\xbb\xbf" + good.encode("utf-8"), "accept")
    add("file encoding", good.encode("utf-8").replace(b"ul a", b"ul \xff\xfe a"), "reject")
    add("deep nesting", "x = " + "[" * 10_000 + "]" * 10_000, "reject")
    add("deep nesting", "x = " + "{a = " * 5_000 + "1" + "}" * 5_000, "reject")
    add("deep nesting", "[" + ".".join(["a"] * 5_000) + "]\nb = 1", "reject")
    add("huge", _toml(_base(name=_q("长" * 1_000_000)), {"links": _q("ul a")}))
    add("huge", _toml(_base(), {f"k{i}": _q("a") for i in range(5_000)}), "reject")
    add("huge", _toml(_base(), {"links": _q("a" + " > a" * 20_000)}))
    add("huge", good + "\n" * 2_000_000 + "# end\n", "accept")
    types = [("spider", "1"), ("url", '["http://x/"]'), ("selectors", '"ul a"'),
             ("enabled", '"yes"'), ("max_pages", '"3"'), ("max_pages", "1.5"),
             ("max_pages", "-1"), ("max_items", "nan"), ("interval_minutes", "inf"),
             ("encoding", "5"), ("own", "1"), ("fetch_detail", "{a = 1}"),
             ("name", "1979-05-27"), ("place", "[1, 2]"), ("department", "true")]
    for key, value in types:
        add("wrong types", _toml(_base(**{key: value})), "reject")
    add("wrong types", _toml(_base(), {"links": "1"}), "reject")
    add("wrong types", _toml(_base(), {"links": '["a", "b"]'}), "reject")
    add("wrong types", _toml(_base(), {"links": "{a = 1}"}), "reject")
    add("huge numbers", _toml(_base(max_pages="99999999999999999999")))
    add("huge numbers", _toml(_base(max_items="9223372036854775808")))
    add("huge numbers", _toml(_base(interval_minutes="0")), "accept")
    add("huge numbers", _toml(_base(max_pages="1e308")), "reject")
    add("huge numbers", _toml(_base(max_pages="-9223372036854775809")), "reject")
    for key in ("spidr", "selector", "URL", "max-pages", "Name", "enabled "):
        add("unknown keys", _toml(_base(**{f'"{key}"' if " " in key else key: '"x"'})),
            "reject")
    add("unknown keys", _toml(_base(), {"linx": _q("a")}), "reject")
    add("unknown keys", _toml(_base(), {"question": _q("a")}), "reject")
    add("unknown keys", _toml(_base(spider=_q("rss")), {"links": _q("a")}), "reject")
    for key in ("spider", "channel", "url"):
        add("missing keys", _toml(_base(**{key: None})), "reject")
    add("missing keys", "", "reject")
    for spider in ("RSS", "rss ", "", "news-list", "weibo", "../../x", "message_board\x00"):
        add("bad values", _toml(_base(spider=_q(spider))), "reject")
    for channel in ("NEWS", "email", "", "新闻"):
        add("bad values", _toml(_base(channel=_q(channel))), "reject")
    for url in ("javascript:alert(1)", "ftp://127.0.0.1/x", "http://", "file:///etc/passwd",
                "//127.0.0.1/x", "", " http://127.0.0.1/x", "HTTP://127.0.0.1/", "data:,x"):
        add("bad urls", _toml(_base(url=_q(url))), "reject")
    for url in ("http://[::1/x", "http://127.0.0.1:99999/", "http://a b/", "http://\x00/",
                "http://127.0.0.1/" + "a" * 100_000, "https://政府.中国/列表",
                "http://127.0.0.1/\r\nX-Injected: 1", "http://[zz]/", "http://127.0.0.1:-1/"):
        add("bad urls", _toml(_base(url=_q(url))))
    for page_url in ("http://127.0.0.1/p", "http://127.0.0.1/{page}/{foo}",
                     "http://127.0.0.1/{page}{}", "http://127.0.0.1/{page:>99999999999}",
                     "http://127.0.0.1/{page}{0}", "http://127.0.0.1/{page.__class__}",
                     "http://127.0.0.1/{page[0]}", "http://127.0.0.1/{page}}", "{page}",
                     "javascript:{page}"):
        add("bad page_url", _toml(_base(page_url=_q(page_url), max_pages="3")))
    for enc in ("rot13", "zlib", "base64", "hex", "bz2", "uu", "quopri", "undefined",
                "unicode_escape", "idna", "utf-7", "nosuch", "", "UTF8", "gb2312", "cp936",
                "punycode", "raw_unicode_escape"):
        add("bad encodings", _toml(_base(encoding=_q(enc))))
    for fmt in ("JSON", "xml", "", "json "):
        add("bad values", _toml(_base(spider=_q("message_board"), channel=_q("board"),
                                      format=_q(fmt))), "reject")
    add("bad values", _toml(_base(spider=_q("rss"), format=_q("json"))), "reject")
    add("bad values", _toml(_base(request_body=_q("{page}"))), "reject")
    add("bad values", _toml(_base(spider=_q("message_board"), channel=_q("board"),
                                  format=_q("json"))), "reject")
    css = ["a[", "::text::text", ":nth-child(", "a::attr(", "<script>", "a >", "#", ".",
           "a:has(b)", "a::text, ", "a" * 10_000, "*:not(", "a[href=\"x]", "\x00",
           "'); DROP TABLE documents;--", "a::attr(href)::text", "a b c d e f g h i j k" * 500]
    xpath = ["//a[", "xpath:", "xpath:   ", "//a/@href |", "count(//a)", "string(//title)",
             "//a[re:test(@href, '(a+)+$')]", "//*[contains(., 'x')]" * 30, "(//a)[",
             "//a[@href=\"x\"]", "/html/body/" + "div/" * 3_000 + "a", "xpath://a[position()>-1]",
             "//a/following::*", "document('file:///etc/passwd')", "//a[php:function('x')]",
             "sum(//a) div 0", "xpath:1 div 0", "/"]
    for expr in css + xpath:
        add("bad selectors", _toml(_base(), {"links": _q(expr)}))
    paths = ["data..result", ".a", "a.", "a b", "a.-1", "0", "data.result[0]", "data/result",
             "数据.结果", "a.\x00", "", "a" * 10_000, "__proto__.x", "$.data"]
    for path in paths:
        add("bad json paths", _toml(_base(spider=_q("message_board"), channel=_q("hotline"),
                                          format=_q("json")), {"items": _q(path)}))
    for text in INJECTIONS[:8] + CONTROL_CHARS[:8]:
        add("odd strings", _toml(_base(name=_q(text), place=_q(text), department=_q(text))))
    for fname, expect in (("UPPER.toml", "reject"), ("中文.toml", "reject"),
                          ("a b.toml", "reject"), ("-x.toml", "reject"), (".toml", "reject"),
                          ("x" * 200 + ".toml", "reject"), ("ok_1-2.toml", "accept")):
        add("file names", good, expect, name=fname)
    add("duplicate ids", _toml(_base(id=_q("shared-id"))), name="dup-a.toml")
    add("duplicate ids", _toml(_base(id=_q("shared-id"))), "reject", name="dup-b.toml")
    add("duplicate ids", _toml(_base(id=_q("../../etc"))), "reject")
    add("duplicate ids", _toml(_base(id="1")), "reject")
    for special in ("dir", "loop", "dangling", "fifo"):
        add("not a file", b"", "reject", special=special)
    return cases


def main_files() -> list[tuple[str, str, str]]:
    """``monitor.toml`` variants: (kind, text, expect); each is one configuration directory."""
    ok = "[monitor]\ntimezone = \"Asia/Shanghai\"\n"
    texts = [
        ("valid", ok, "accept"),
        ("bad values", "[crawl]\ndownload_delay = inf\n", "reject"),
        ("bad values", "[crawl]\ndownload_delay = nan\n", "reject"),
        ("bad values", "[crawl]\ndownload_delay = -1\n", "reject"),
        ("bad values", "[crawl]\ntimeout_seconds = 99999999999999999999\n", ""),
        ("bad values", "[crawl]\nconcurrent_requests = 1000000000\n", ""),
        ("bad values", "[crawl]\nuser_agent = \"x\\r\\nX-Injected: 1\"\n", "reject"),
        ("bad values", "[crawl]\nuser_agent = \"\"\n", ""),
        ("bad values", "[crawl]\npython = \"/no/such/python\"\n", ""),
        ("bad values", "[monitor]\ntimezone = \"../../etc/passwd\"\n", "reject"),
        ("bad values", "[monitor]\ntimezone = \"\"\n", "reject"),
        ("bad values", "[monitor]\ntimezone = \"Asia/Shanghai\\u0000\"\n", "reject"),
        ("bad values", "[monitor]\ndata_dir = \"a\\u0000b\"\n", "reject"),
        ("bad values", "[monitor]\ndata_dir = \"" + "d/" * 3000 + "\"\n", ""),
        ("bad values", "[store]\npath = \"\\u0000\"\n", "reject"),
        ("bad values", "[state]\nurl = \"not a url\"\n", ""),
        ("wrong types", "[plugins]\ndisabled = [1, 2]\n", "reject"),
        ("wrong types", "[plugins]\ndisabled = \"risk\"\n", "reject"),
        ("wrong types", "[plugins]\nrisk = 1\n", "reject"),
        ("wrong types", "monitor = 1\n", "reject"),
        ("wrong types", "[crawl]\nobey_robots = \"no\"\n", "reject"),
        ("toml syntax", "[monitor\n", "reject"),
        ("toml syntax", "\x00\x01\x02", "reject"),
        ("unknown keys", "[monitr]\n", "reject"),
        ("deep nesting", "x = " + "[" * 10_000 + "]" * 10_000 + "\n", "reject"),
    ]
    return texts


def queries(rng: random.Random) -> list[tuple[str, str]]:
    """≈ 330 (kind, query) pairs: FTS5 syntax, SQL, quotes, controls, sizes, mixtures."""
    out: list[tuple[str, str]] = []
    fts = ['NEAR(', 'NEAR(政府 回应', 'NEAR(政府 回应, 2)', '"', '""', '"""', '*', '**', '^',
           '^政府', '政府*', '*政府', 'title:围墙', 'text:', ':', '{title text}: 低保',
           '{', '}', '(', ')', '(((', ')))', '()', '-围墙', '学校 -围墙', 'NOT', 'NOT 围墙',
           '学校 NOT 围墙', 'AND', 'OR', 'OR OR', 'a OR', 'OR a', 'AND AND', '+', '+政府',
           'col:*', 'rowid:1', 'documents_fts:x', 'bm25(', 'highlight(', '"政府" "', '政府"回应',
           '“政府', '「政府', '『』', '＂政府＂', 'ＯＲ', 'or', '政府 or 回应', '政府 ＯＲ 回应',
           'NEAR', 'near(a b)', '^*', '"*"', '"^"', '"NEAR("', "'", "''", '\\', '\\"', '%', '_',
           '%_%', '$', '#', '@', '!', '?', '~', '`', '|', '&', ';', '--', '/*', '*/']
    out += [("fts5 syntax", q) for q in fts]
    out += [("sql", q) for q in INJECTIONS]
    out += [("sql", q) for q in ["' OR 1=1 --", "1); DROP TABLE documents_fts; --",
                                 "\"; ATTACH DATABASE '/tmp/x' AS x; --", "UNION SELECT body",
                                 "x' UNION SELECT * FROM store_meta --"]]
    out += [("control characters", f"政府{ch}回应") for ch in CONTROL_CHARS]
    out += [("control characters", ch) for ch in CONTROL_CHARS]
    out += [("lone surrogates", q) for q in ["\ud800", "政府\udfff", "\udbff\udc00x", "a\ud83d"]]
    out += [("huge numbers", q) for q in HUGE_NUMBERS[:8]]
    out += [("unicode", q) for q in ["😀", "政府😀回应", "e\u0301", "ＡＢＣ", "ﾃｽﾄ", "\u202e政府",
                                     "ㄅㄆㄇ", "𠀀𠀁", "⿰氵工", "Ǆ", "ß", "İ", "ﬁ", "\u3000政府\u3000"]]
    sizes = [("size", "政府" * 5_000), ("size", "a" * 100_000), ("size", " ".join(["政府"] * 2000)),
             ("size", " OR ".join(TOPICS * 20)), ("size", " ".join(f'"{t}"' for t in TOPICS * 10)),
             ("size", "(" * 5000 + "政府" + ")" * 5000), ("size", '"' * 10_001),
             ("size", "NEAR(" * 1000), ("size", " ".join(["-x"] * 500)), ("size", ""),
             ("size", " "), ("size", "\n\t\r")]
    out += sizes
    pool = list('"*^():{}-+NEAROTD 政府回应低保学校围墙\'%_\\;,.“”「」') + ["OR", "AND", "NOT",
                                                                    "NEAR(", "title:"]
    for _ in range(150):
        out.append(("random mixture", "".join(rng.choice(pool)
                                              for _ in range(rng.randint(1, 30)))))
    for topic in TOPICS:
        out.append(("ordinary", topic))
    return out


@dataclass
class DocCase:
    """A document for the in-process ingest: its kind and the fields it is built from."""

    kind: str
    fields: dict = field(default_factory=dict)
    expect: str = "stored"  # "stored" | "" (stored or skipped with a reason)


def documents(rng: random.Random) -> list[DocCase]:
    """≈ 90 documents: engagement counts, odd text, odd dates, odd ids."""
    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    out: list[DocCase] = []

    def add(kind: str, expect: str = "stored", **fields: object) -> None:
        i = len(out)
        topic = rng.choice(TOPICS)
        doc = {"title": f"{topic}情况dc{i:04d}", "text": f"关于{topic}，群众反映强烈。样本dc{i:04d}",
               "published_at": base + timedelta(hours=i), "engagement": {"likes": 3}}
        doc.update(fields)
        out.append(DocCase(kind, doc, expect))

    for _ in range(10):
        add("valid")
    counts = [1e308, 10 ** 20, 99999999999999999999, "1.2万", "10w+", -5, float("inf"),
              float("nan"), -float("inf"), None, [], {}, "9" * 5000, 10 ** 400, 2 ** 63, True,
              1e-400, "NaN", " 12 ", "1,234"]
    for value in counts:
        add("huge numbers", engagement={"views": value, "likes": value, "reposts": value,
                                        "comments": value})
    add("huge numbers", engagement="not a dict")
    add("huge numbers", engagement={"一" * 1000: 1, "": 2, "\x00": 3})
    for text in INJECTIONS:
        add("script and sql", text=f"<script>alert(1)</script>{text}", title=text[:40])
    for ch in CONTROL_CHARS:
        add("control characters", title=f"标题{ch}控制", text=f"正文{ch}内容{ch}")
    for sur in ("\ud800", "政府\udfff"):
        add("lone surrogates", "", title=f"代理{sur}", text=f"正文{sur}")
    for year in (1, 1969, 2038, 9999):
        add("odd dates", published_at=datetime(year, 1, 1, tzinfo=timezone.utc))
    add("odd dates", published_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc))
    add("odd dates", "", published_at=datetime(2026, 1, 1))  # no time zone: refused, counted
    add("empty", "", title="", text="")
    add("empty", "", title=" \n\t ", text="\u3000")
    add("huge text", text="公示名单：" + "张三 李四 低保 1234元。" * 30_000)
    add("huge text", title="长" * 50_000)
    add("odd extra", extra={"deep": [[[[[["x"]]]]]], "set": {1, 2}, "bytes": b"\xff"})
    return out
