"""Seeded hostile feeds (RSS/Atom) and JSON API pages for the fault suite.

* :func:`feed_entries` — entries of one big feed, each linking to a detail page that may itself
  be hostile (the entry must survive it: the feed's description is kept);
* :func:`feed_variants` — whole feeds that are broken (truncated, not XML, entity tricks,
  control characters, 10,000 levels, invalid bytes): one crawl each;
* :func:`json_records` — records of a 12345-style API, several pages of them;
* :func:`json_variants` — whole API pages that are broken: one crawl each.
"""
from __future__ import annotations

import json
import random
from html import escape

from hostile import (CONTROL_CHARS, HUGE_NUMBERS, INJECTIONS, ODD_DATES, Case, Response,
                     content, _binary)

RSS = "application/rss+xml; charset=utf-8"
JSON = "application/json;charset=UTF-8"
JSON_SELECTORS = {"items": "data.result", "title": "title", "question": "content",
                  "asker": "name", "submitted": "createDate", "unit": "dept",
                  "number": "orderNo", "reply": "replyContent", "reply_unit": "replyDept",
                  "reply_time": "replyDate", "status": "statusName", "link": "detailUrl"}


def entry_xml(title: str, link: str | None, guid: str | None, date: str, description: str,
              raw: str = "") -> str:
    """One RSS <item> (values escaped unless passed in ``raw``)."""
    parts = [f"<title>{escape(title)}</title>"]
    if link is not None:
        parts.append(f"<link>{escape(link)}</link>")
    if guid is not None:
        parts.append(f"<guid isPermaLink=\"false\">{escape(guid)}</guid>")
    parts.append(f"<pubDate>{escape(date)}</pubDate>")
    parts.append(f"<description><![CDATA[{description}]]></description>")
    return "<item>" + "".join(parts) + raw + "</item>"


def feed_xml(items: list[str], encoding: str = "utf-8", prolog: str = "") -> str:
    """An RSS 2.0 document around ``items``."""
    return (f"<?xml version=\"1.0\" encoding=\"{encoding}\"?>{prolog}<rss version=\"2.0\">"
            f"<channel><title>某市新闻</title><link>http://127.0.0.1/</link>"
            f"<description>测试</description>{''.join(items)}</channel></rss>")


def _entry(rng: random.Random, tag: str, detail: str, **change: str) -> tuple[str, str]:
    c = content(rng, tag)
    fields = {"title": c.title, "link": detail, "guid": f"guid-{tag}", "date": c.date,
              "description": "".join(f"<p>{p}</p>" for p in c.paragraphs), "raw": ""}
    fields.update(change)
    return entry_xml(**fields), c.paragraphs[0][:12]


def feed_entries(rng: random.Random, path: str, detail_cases: list[Case]) -> list[Case]:
    """Entries of one feed (≈ 150); ``extra["xml"]`` holds the entry, ``extra["detail"]`` the
    path of its page.  Hostile detail pages are taken in turn from ``detail_cases``."""
    cases: list[Case] = []
    pages = iter(detail_cases)
    seq = 0

    def add(kind: str, expect: str = "stored", page: Response | None = None,
            **change: str) -> Case:
        nonlocal seq
        seq += 1
        tag = f"rs{seq:04d}"
        detail = f"{path}/{tag}.html"
        xml, phrase = _entry(rng, tag, detail, **change)
        if page is None:
            hostile = next(pages, None)
            page = hostile.response if hostile is not None else Response(body=b"")
            kind_of_page = hostile.kind if hostile is not None else "empty body"
        else:
            kind_of_page = "valid"
        case = Case(kind, tag, page, expect, phrase, {"xml": xml, "detail": detail,
                                                      "page_kind": kind_of_page})
        cases.append(case)
        return case

    good = Response(body=("<html><body><div class=\"article\"><p>详情页正文内容足够长，"
                          "用于替换订阅源中的摘要。</p></div></body></html>").encode("utf-8"))
    for _ in range(10):
        add("valid", page=good)
    for _ in range(60):  # each entry's page is one of the hostile pages; the entry survives
        add("hostile detail page")
    for date in ODD_DATES:
        add("odd dates", page=good, date=date)
    for text in INJECTIONS:
        add("script and sql", page=good, title=f"标题{text}",
            description=f"<script>alert(1)</script>{escape(text)}<p>正文</p>")
    for ch in ("\u200b", "\u202e", "\ufeff", "\u2028", "\x85"):  # XML allows these
        add("control characters", page=good, title=f"含{ch}控制字符")
    add("missing fields", expect="", link=None, guid=None)  # no link: skipped
    add("missing fields", expect="", title="", description="")  # nothing: skipped
    add("missing fields", page=good, title="")
    add("missing fields", page=good, description="")
    add("missing fields", link=None, guid="http://127.0.0.1:1/guid-as-link")
    add("bad links", link="javascript:alert(1)")
    add("bad links", expect="", link="http://[::1/x")  # no usable link, no http guid: skipped
    add("bad links", link="http://127.0.0.1:99999/x")
    add("bad links", link="/" + "a" * 9000)
    add("bad links", link="  \n  /relative/link.html \t")
    add("bad links", link="ftp://127.0.0.1/file")
    twin = add("duplicate entry", page=good)  # the same entry twice: one skipped
    cases.append(Case("duplicate entry", twin.name + "b", good, "", twin.phrase,
                      {"xml": twin.extra["xml"], "detail": None, "page_kind": "valid"}))
    shared = add("duplicate entry", page=good, guid="guid-shared")  # one guid, two pages
    add("duplicate entry", page=good, guid="guid-shared")
    del shared
    for number in HUGE_NUMBERS[:6]:
        add("huge numbers", page=good,
            raw=f"<comments>{escape(number)}</comments><views>{escape(number)}</views>")
    return cases


def feed_variants(rng: random.Random) -> list[Case]:
    """Whole feeds that are broken; ``extra["entries"]`` is how many entries they hold."""
    def items(n: int, prefix: str) -> list[str]:
        return [_entry(rng, f"{prefix}{i:02d}", f"/feedv/{prefix}{i:02d}.html")[0]
                for i in range(n)]

    ten = items(10, "fa")
    full = feed_xml(ten).encode("utf-8")
    laughs = ("<!DOCTYPE rss [<!ENTITY a \"哈哈哈哈哈哈哈哈哈哈\">"
              + "".join(f"<!ENTITY {chr(98 + i)} \"" + f"&{chr(97 + i)};" * 10 + "\">"
                        for i in range(8)) + "]>")
    xxe = "<!DOCTYPE rss [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
    deep = "<x>" * 10_000 + "</x>" * 10_000
    cut = items(10, "fb")
    ctrl = items(10, "fc")
    ctrl[3] = ctrl[3].replace("</title>", "\x00\x01\x1b</title>")
    bad_bytes = feed_xml(items(10, "fd")).encode("utf-8").replace("。".encode(), b"\xff\xfe", 1)
    entity = items(10, "fe")
    entity[2] = entity[2].replace("</title>", "&nosuch;&#0;&#xD800;</title>")
    variants = [
        ("truncated feed", Response(body=feed_xml(cut).encode("utf-8")[:2500], content_type=RSS),
         10),
        ("not a feed", Response(body="<html><body>系统维护中</body></html>".encode(),
                                content_type=RSS), 0),
        ("binary feed", Response(body=_binary(rng, 5000), content_type=RSS), 0),
        ("empty feed", Response(body=b"", content_type=RSS), 0),
        ("lying charset", Response(body=feed_xml(items(10, "ff")).encode("gbk"),
                                   content_type=RSS), 10),
        ("utf-16 feed", Response(body=feed_xml(items(10, "fg"), "utf-16").encode("utf-16"),
                                 content_type="application/rss+xml"), 10),
        ("entity expansion", Response(body=feed_xml(items(5, "fh") + [entry_xml(
            "笑&i;", "/feedv/laugh.html", "laugh", "2026-11-01", "x")], prolog=laughs)
            .replace("<title>笑&amp;i;</title>", "<title>笑&i;</title>").encode("utf-8"),
            content_type=RSS), 6),
        ("external entity", Response(body=feed_xml(items(5, "fi") + [
            "<item><title>&xxe;</title><link>/feedv/xxe.html</link><description>x"
            "</description></item>"], prolog=xxe).encode("utf-8"), content_type=RSS), 6),
        ("deep nesting", Response(body=feed_xml(items(4, "fj") + [
            f"<item><title>深层</title><link>/feedv/deep.html</link><description>x</description>"
            f"{deep}</item>"] + items(4, "fk")).encode("utf-8"), content_type=RSS), 9),
        ("control characters", Response(body=feed_xml(ctrl).encode("utf-8"), content_type=RSS),
         10),
        ("invalid utf-8", Response(body=bad_bytes, content_type=RSS), 10),
        ("bad entities", Response(body=feed_xml(entity).encode("utf-8"), content_type=RSS), 10),
        ("huge feed", Response(body=feed_xml(items(3, "fl") + [entry_xml(
            "巨大条目", "/feedv/huge.html", "huge", "2026-11-01",
            "公示名单：" + "张三 李四 王五 低保 1234元。" * 260_000)]).encode("utf-8"),
            content_type=RSS), 4),
        ("slow feed", Response(body=full, content_type=RSS, mode="trickle", seconds=20.0,
                               interval=0.5, chunk=4), 10),
        ("redirect loop", Response(status=302, mode="redirect", location="{self}"), 0),
        ("http error", Response(status=404, body=b"not found"), 0),
    ]
    return [Case(kind, f"fv{i:02d}", resp, "", "", {"entries": n})
            for i, (kind, resp, n) in enumerate(variants)]


def _record(rng: random.Random, tag: str, **change: object) -> tuple[dict, str]:
    c = content(rng, tag)
    record = {"title": c.title, "content": "\n".join(c.paragraphs), "name": c.author,
              "createDate": c.date, "dept": c.unit, "orderNo": f"GD{tag}",
              "replyContent": c.reply, "replyDept": c.unit, "replyDate": "2026-11-30 10:00",
              "statusName": "已办结", "detailUrl": f"/api/detail/{tag}"}
    for key, value in change.items():
        if value is _DROP:
            record.pop(key, None)
        else:
            record[key] = value
    return record, c.paragraphs[0][:12]


_DROP = object()


def json_records(rng: random.Random) -> list[Case]:
    """Records of the API (≈ 190); ``extra["record"]`` is the JSON value sent."""
    cases: list[Case] = []
    seq = 0

    def add(kind: str, expect: str = "stored", value: object = None, **change: object) -> Case:
        nonlocal seq
        seq += 1
        tag = f"js{seq:04d}"
        record, phrase = _record(rng, tag, **change)
        case = Case(kind, tag, Response(), expect, phrase,
                    {"record": record if value is None else value})
        cases.append(case)
        return case

    for _ in range(20):
        add("valid")
    for value in ([], {}, True, None, 42, 1e308, ["a", ["b"]], {"text": "嵌套"}):
        add("wrong types", expect="", title=value)
        add("wrong types", question=value, expect="stored" if value is None else "")
    for number in (10 ** 20, 1e308, -1, float("nan"), float("inf"), -float("inf"), 0, 2 ** 63,
                   "1.2万", "10w+", "9" * 4000):
        add("huge numbers", orderNo=number, views=number, likes=number)
    for ch in CONTROL_CHARS:
        add("control characters", title=f"标题{ch}含控制字符", name=f"张{ch}三")
    for sur in ("\ud800", "\udfff", "\udbff\udbff", "a\ud83d"):
        add("lone surrogates", title=f"代理{sur}字符", content=f"正文{sur}内容里有孤立的代理字符")
    for text in INJECTIONS:
        add("script and sql", content=f"<script>alert(1)</script>{text}")
    for date in ODD_DATES:
        add("odd dates", createDate=date, replyDate=date)
    for number in (10 ** 30, 1e308, -5):
        add("odd dates", createDate=number)
    for link in ("javascript:alert(1)", "http://[::1/x", "//127.0.0.1/other", "",
                 "/" + "a" * 9000, "../../etc/passwd", "http://127.0.0.1:99999/",
                 "http://[zz]/", " \n ", "mailto:someone@example.com"):
        add("bad links", detailUrl=link)
    add("missing fields", expect="", value={})
    add("missing fields", expect="", value={"unrelated": 1})
    add("missing fields", title=_DROP, content=_DROP)  # only the reply: still a message
    add("missing fields", detailUrl=_DROP, orderNo=_DROP)
    add("missing fields", detailUrl=_DROP, orderNo=None)
    for value in (42, "字符串", None, [], True, [{"title": "嵌套"}]):
        add("not an object", expect="", value=value)
    for i in range(4):  # one number, different letters: both kept
        add("duplicate letter number", orderNo=f"DUP{i}", detailUrl=_DROP)
        add("duplicate letter number", orderNo=f"DUP{i}", detailUrl=_DROP)
    twin = add("duplicate letter number")
    cases.append(Case("duplicate letter number", twin.name + "b", Response(), "",
                      twin.phrase, {"record": twin.extra["record"], "repeat_of": twin.name}))
    add("deep nesting", question={"a": [[[[{"b": "深"}]]]]})
    nest: object = "很深"
    for _ in range(400):
        nest = [nest]
    add("deep nesting", expect="stored", extra_field=nest)
    add("huge strings", content="公示名单：" + "张三 李四 低保 1234元。" * 20_000)
    add("huge strings", title="长" * 100_000)
    return cases


def json_page(records: list[object]) -> bytes:
    """One API page around ``records`` (NaN and Infinity written as JavaScript does)."""
    return json.dumps({"code": 200, "data": {"result": records, "total": 999}},
                      ensure_ascii=False).encode("utf-8", errors="backslashreplace")


def json_variants(rng: random.Random) -> list[Case]:
    """Whole API pages that are broken: each is page 1 of its own source."""
    recs = [_record(rng, f"jv{i:02d}")[0] for i in range(5)]
    good = json_page(recs)
    variants = [
        ("truncated json", Response(body=good[: len(good) // 2], content_type=JSON)),
        ("not json", Response(body="<html><body>系统维护中</body></html>".encode(),
                              content_type="text/html")),
        ("empty body", Response(body=b"", content_type=JSON)),
        ("null", Response(body=b"null", content_type=JSON)),
        ("items not a list", Response(body=b'{"data": {"result": "none"}}', content_type=JSON)),
        ("items an object", Response(body=b'{"data": {"result": {"a": 1}}}', content_type=JSON)),
        ("deep nesting", Response(body=b'{"data": {"result": [], "x": ' + b"[" * 10_000
                                  + b"]" * 10_000 + b"}}", content_type=JSON)),
        ("byte-order mark", Response(body=b"\xef\xbb\xbf" + good, content_type=JSON)),
        ("utf-16 json", Response(body=good.decode("utf-8").encode("utf-16-le"),
                                 content_type="application/json")),
        ("lying charset", Response(body=good.decode("utf-8").encode("gbk"), content_type=JSON)),
        ("giant number", Response(body=b'{"data": {"result": [{"title": "t", "orderNo": '
                                  + b"9" * 5000 + b"}]}}", content_type=JSON)),
        ("binary body", Response(body=_binary(rng, 3000), content_type=JSON)),
        ("http error", Response(status=500, body=good, content_type=JSON)),
        ("nan and infinity", Response(body=b'{"data": {"result": [{"title": NaN, "content": '
                                      b'"x", "orderNo": Infinity}]}}', content_type=JSON)),
        ("redirect loop", Response(status=302, mode="redirect", location="{self}")),
        ("slow server", Response(body=good, content_type=JSON, mode="trickle", seconds=20.0,
                                 interval=0.5, chunk=4)),
    ]
    return [Case(kind, f"jv{i:02d}", resp) for i, (kind, resp) in enumerate(variants)]
