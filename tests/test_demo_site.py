"""The synthetic demo site: deterministic, complete, correctly encoded, crawlable by its sources."""
from __future__ import annotations

import email.utils
import hashlib
import re
import time
import tomllib
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import parsel
import pytest

from monitor.config import SELECTOR_KEYS, parse_source
from monitor.demo.site import build_site, content_types, serve_site
from monitor.demo.sources import demo_sources
from monitor.demo.words import SYNTHETIC_NOTICE
from monitor.localsite import serve_directory

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)  # a Tuesday, as in SCENARIOS.md
BASE = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    return root, build_site(root, seed=7, now=NOW)


def digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def read(root: Path, rel: str) -> str:
    data = (root / rel.lstrip("/")).read_bytes()
    return data.decode("gbk" if rel.lstrip("/").startswith("mailbox/") else "utf-8")


def to_file(list_rel: str, href: str) -> str:
    """Site file that serves ``href`` found on the page ``list_rel`` (as localsite maps queries)."""
    url = urlsplit(urljoin("http://x/" + list_rel, href))
    return url.path.lstrip("/") + (f"__{url.query}" if url.query else "")


def extract(page: parsel.Selector, expr: str) -> str:
    """Text a spider would take for a selector: CSS unless it starts with / or xpath:."""
    if expr.startswith("xpath:"):
        found = page.xpath(expr[len("xpath:"):])
    elif expr.startswith("/"):
        found = page.xpath(expr)
    else:
        found = page.css(expr)
    return " ".join(
        (r.root if isinstance(r.root, str) else "".join(r.xpath(".//text()").getall())).strip()
        for r in found).strip()


def sources():
    return {s.id: s for s in demo_sources(BASE + "/")}


def test_same_seed_same_bytes_other_seed_other_site(tmp_path, site):
    root, _ = site
    build_site(tmp_path / "again", seed=7, now=NOW)
    build_site(tmp_path / "other", seed=8, now=NOW)
    assert digest(tmp_path / "again") == digest(root)
    assert digest(tmp_path / "other") != digest(root)


def test_rebuild_replaces_a_previous_demo_site(tmp_path):
    build_site(tmp_path / "reused", seed=7, now=NOW - timedelta(days=40))
    build_site(tmp_path / "reused", seed=7, now=NOW)
    build_site(tmp_path / "fresh", seed=7, now=NOW)
    assert digest(tmp_path / "reused") == digest(tmp_path / "fresh")


def test_default_now_is_the_current_hour(tmp_path):
    before = datetime.now(TZ)
    a = build_site(tmp_path / "a", seed=5)
    b = build_site(tmp_path / "b", seed=5, now=datetime.now(TZ).replace(minute=59, second=59))
    if datetime.now(TZ).hour != before.hour:
        pytest.skip("the hour changed while the test ran")
    assert a == b and digest(tmp_path / "a") == digest(tmp_path / "b")
    stamp = (tmp_path / "a/rss/news.xml").read_text(encoding="utf-8")
    assert f"{before:%d %b %Y %H}:00:00 +0800" in stamp


def test_counts_sizes_and_speed(tmp_path, site):
    root, info = site
    assert (info.news, info.messages, info.feed_items) == (150, 120, 40)
    assert info.replied + info.pending == info.messages
    assert 0.6 <= info.replied / info.messages <= 0.85
    files = [p for p in root.rglob("*") if p.suffix in (".html", ".xml") or "__" in p.name]
    assert info.pages == len(files) == 1 + 8 + 150 + 8 + 120 + 1 + 40
    assert sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) < 3_000_000
    started = time.perf_counter()
    build_site(tmp_path / "timed", seed=3, now=NOW)
    assert time.perf_counter() - started < 1.0


def test_every_page_says_it_is_synthetic(site):
    root, _ = site
    for path in root.rglob("*"):
        if path.suffix == ".html" or "__" in path.name:
            text = read(root, path.relative_to(root).as_posix())
            assert SYNTHETIC_NOTICE in text and "<!-- SYNTHETIC DEMO DATA" in text, path
    feed = read(root, "rss/news.xml")
    assert SYNTHETIC_NOTICE in feed and "<!-- SYNTHETIC DEMO DATA" in feed


def test_mailbox_is_really_gbk(site):
    root, info = site
    pages = sorted((root / "mailbox").rglob("*"))
    pages = [p for p in pages if p.is_file()]
    assert len(pages) == 8 + info.messages
    for path in pages:
        data = path.read_bytes()
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        text = data.decode("gbk")
        assert '<meta charset="gbk">' in text and "县长信箱" in text
    # the portal stays UTF-8
    assert "新闻发布" in (root / "news/index.html").read_bytes().decode("utf-8")


def test_list_links_and_pagination_resolve_to_files(site):
    root, info = site
    src = sources()
    for source_id, first, per_page, total in (("county-news", "news/index.html", 20, info.news),
                                              ("county-mailbox", "mailbox/index.html", 15,
                                               info.messages)):
        cfg = src[source_id]
        seen, rel, pages = [], first, 0
        while rel:
            pages += 1
            assert pages <= cfg.max_pages
            page = parsel.Selector(text=read(root, rel))
            links = page.xpath(cfg.selectors["links"]) if cfg.selectors["links"].startswith("/") \
                else page.css(cfg.selectors["links"])
            hrefs = links.getall()
            assert 0 < len(hrefs) <= per_page
            for href in hrefs:
                assert (root / to_file(rel, href)).is_file(), (rel, href)
            seen += [to_file(rel, h) for h in hrefs]
            nxt = extract(page, cfg.selectors["next_page"])
            rel = to_file(rel, nxt) if nxt else ""
            if rel:
                assert "__page=" in rel and (root / rel).is_file()
        assert len(seen) == len(set(seen)) == total, source_id


def test_news_dates_spread_over_30_days_and_collapse_is_recent(site):
    root, _ = site
    page = parsel.Selector(text=read(root, "news/index.html"))
    times = []
    for path in (root / "news").glob("*/*.html"):
        stamp = parsel.Selector(text=read(root, path.relative_to(root).as_posix()))
        value = stamp.css("span.pubtime::text").get()
        times.append(datetime.strptime(value, "%Y-%m-%d %H:%M").replace(tzinfo=TZ))
    assert max(times) <= NOW and min(times) >= NOW - timedelta(days=30)
    assert max(times) - min(times) > timedelta(days=25)
    titles = page.css("ul.news-list a::text").getall()
    collapse = [t for t in titles if "围墙倒塌" in t and "情况通报" in t]
    assert collapse, "the 情况通报 should be on the first list page"
    assert any("不实" in t for t in titles)


def test_feed_is_rss2_with_rfc822_dates_and_existing_pages(site):
    root, info = site
    feed = parsel.Selector(text=read(root, "rss/news.xml"), type="xml")
    items = feed.xpath("//channel/item")
    assert len(items) == info.feed_items
    for item in items:
        parsed = email.utils.parsedate_to_datetime(item.xpath("pubDate/text()").get())
        assert parsed.utcoffset() == timedelta(hours=8)
        assert NOW - timedelta(days=30) <= parsed <= NOW
        assert (root / item.xpath("link/text()").get().lstrip("/")).is_file()
        assert "<p>" in item.xpath("description/text()").get()
    recent = [i.xpath("title/text()").get() for i in items
              if email.utils.parsedate_to_datetime(i.xpath("pubDate/text()").get())
              > NOW - timedelta(days=2)]
    assert any("围墙倒塌" in t for t in recent)


def test_feed_links_are_absolute_with_base_url(tmp_path):
    build_site(tmp_path, seed=7, now=NOW, base_url="http://127.0.0.1:8123/")
    feed = parsel.Selector(text=read(tmp_path, "rss/news.xml"), type="xml")
    assert all(link.startswith("http://127.0.0.1:8123/citynews/")
               for link in feed.xpath("//item/link/text()").getall())


def test_sources_are_valid_configs():
    for source in demo_sources(BASE):
        assert set(source.selectors) <= SELECTOR_KEYS[source.spider]
        again = parse_source(tomllib.loads(source.to_toml()), Path(f"{source.id}.toml"))
        assert again.selectors == source.selectors and again.url == source.url
    src = sources()
    assert src["county-news"].own and src["county-news"].channel == "portal"
    assert src["county-mailbox"].channel == "mailbox" and src["city-rss"].spider == "rss"
    assert src["county-news"].url == BASE + "/news/index.html"


def first_letter(root: Path, replied: bool) -> str:
    for path in sorted((root / "mailbox/detail").glob("*.html")):
        text = path.read_bytes().decode("gbk")
        if ("回复内容" in text) == replied and "<td></td>" not in text:
            return text
    raise AssertionError("no such letter")


def test_selectors_find_every_field_on_detail_pages(site):
    root, _ = site
    src = sources()
    news = parsel.Selector(text=read(root, next((root / "news").glob("*/*.html"))
                                     .relative_to(root).as_posix()))
    for key in ("title", "published", "content", "author"):
        assert extract(news, src["county-news"].selectors[key]), key
    assert extract(news, src["county-news"].selectors["author"]).startswith("示例县")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d",
                        extract(news, src["county-news"].selectors["published"]))

    mailbox = src["county-mailbox"].selectors
    answered = parsel.Selector(text=first_letter(root, replied=True))
    for key in mailbox:
        if key not in ("links", "next_page"):
            assert extract(answered, mailbox[key]), key
    assert extract(answered, mailbox["status"]) == "已回复"
    assert re.fullmatch(r".\*\*|匿名", extract(answered, mailbox["asker"]))
    pending = parsel.Selector(text=first_letter(root, replied=False))
    assert extract(pending, mailbox["status"]) == "办理中"
    assert extract(pending, mailbox["question"]) and not extract(pending, mailbox["reply"])

    city = parsel.Selector(text=read(root, next((root / "citynews").glob("*/*.html"))
                                     .relative_to(root).as_posix()))
    assert len(extract(city, src["city-rss"].selectors["content"])) > 20


def test_awkward_letters_are_there(site):
    root, _ = site
    texts = [p.read_bytes().decode("gbk") for p in (root / "mailbox/detail").glob("*.html")]
    bodies = [extract(parsel.Selector(text=t), sources()["county-mailbox"].selectors["question"])
              for t in texts]
    assert sum(1 for b in bodies if not b) == 1
    lengths = sorted(len(b) for b in bodies)
    assert lengths[-1] > 800 and lengths[-1] > 8 * lengths[len(lengths) // 2]
    assert any(re.search(r"\d{4}年\d+月\d+日 下午\d点", t) for t in texts)
    assert sum(1 for t in texts if "围墙" in t or "三个学生" in t) >= 3


def test_pages_are_served_on_loopback(site):
    root, _ = site
    with serve_site(root) as base_url:
        with urllib.request.urlopen(base_url + "/mailbox/index.html?page=2") as resp:
            body = resp.read()
            assert resp.headers["Content-Type"] == "text/html"  # no charset: <meta> says gbk
        assert body == (root / "mailbox/index.html__page=2").read_bytes()
        assert "第2/8页" in body.decode("gbk")
        with urllib.request.urlopen(base_url + "/news/index.html?page=3") as resp:
            assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
            assert "第3/8页" in resp.read().decode("utf-8")
    assert content_types(root)["/rss/news.xml"].startswith("application/rss+xml")
    with serve_directory(root, charset=None) as base_url:  # as `monitor demo` serves it
        with urllib.request.urlopen(base_url + "/rss/news.xml") as resp:
            assert resp.read() == (root / "rss/news.xml").read_bytes()
