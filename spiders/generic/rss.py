"""``rss``: an RSS 2.0 / RSS 1.0 / Atom feed → one article per entry.

The entry's guid (Atom: id) is the platform id, and the key that tells entries apart: a guid
seen before in the same feed is skipped ("duplicate entry"), while entries with different guids
that share one link are all kept.  With ``fetch_detail = true`` and a ``content`` selector, each
entry's page is fetched for the full text (once per entry: Scrapy's duplicate filter would
otherwise drop the second request for a shared link silently); when that page fails or the
selector finds nothing, the feed's description is kept (never a lost entry).  Dates that are not
RFC 822 (``2025-12-29 19:58:18``) are read by :func:`monitor.timeparse.parse_datetime`; a relative
one (「3小时前」) sets ``extra["date_relative"]``.

Broken feeds: characters XML forbids are replaced, a feed the parser had to repair is counted
("damaged feed"), and entries its bytes hold but the parser could not read are counted as
errors ("unreadable feed entry"), one each.  An entry whose link is unusable (``javascript:``,
an invalid host) is kept at ``<feed url>#<guid>`` when it has a guid, else skipped and counted.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import quote

from lxml import etree, html
from scrapy.http import TextResponse

from spiders.generic.base import SourceSpider
from spiders.generic.listing import absolute, too_long
from spiders.charset import choose_encoding
from spiders.selectors import element_text, inline

_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding=[\"']([\w.-]+)[\"']", re.I)
_DATE_TAGS = ("pubDate", "published", "updated", "date", "issued", "modified")
_TEXT_TAGS = ("encoded", "content", "description", "summary")


def _local(el: Any) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _child(entry: Any, *names: str) -> Any:
    for name in names:
        for child in entry:
            if _local(child) == name:
                return child
    return None


def _child_text(entry: Any, *names: str) -> str:
    child = _child(entry, *names)
    return "".join(child.itertext()).strip() if child is not None else ""


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment (a feed description), paragraphs kept."""
    markup = markup.strip()
    if not markup:
        return ""
    if "<" not in markup:
        return markup
    try:
        return element_text(html.fragment_fromstring(markup, create_parent="div"))
    except (etree.ParserError, ValueError):
        return inline(re.sub(r"<[^>]+>", " ", markup))


#: An entry's start tag in the raw feed (any namespace prefix): what the parser should find.
_ENTRY_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]")
_HIDDEN = re.compile(rb"<!\[CDATA\[.*?\]\]>|<!--.*?-->", re.S)  # where "<item>" is only text
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_char(code: int) -> bool:
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD \
        or 0x10000 <= code <= 0x10FFFF


def clean_xml(data: bytes) -> tuple[bytes, int]:
    """``data`` with the characters XML forbids (controls, ``&#0;``, ``&#xD800;``) replaced by
    U+FFFD, and how many there were: libxml2 keeps a bad reference as bytes that are not UTF-8
    (reading the entry then raises), and a raw control character can end the parse."""
    count = 0

    def ref(m: re.Match) -> bytes:
        nonlocal count
        code = int(m.group(1), 16) if m.group(1) else int(m.group(2))
        if _xml_char(code):
            return m.group(0)
        count += 1
        return b"&#xFFFD;"

    data = _CHAR_REF.sub(ref, data)
    data, controls = _CONTROL.subn("\ufffd".encode("utf-8"), data)
    return data, count + controls


@dataclass
class Feed:
    """A parsed feed: its root (None when it is not XML at all), how many entries its bytes
    hold, and how many characters XML forbids were replaced."""

    root: Any
    raw_entries: int
    replaced: int
    damaged: bool


def read_feed(response: Any) -> Feed:
    """Parse the feed (lxml, recovering from broken XML)."""
    if hasattr(response, "text"):
        data = response.text.encode("utf-8", errors="replace")
    else:
        body = response.body
        declared = _XML_DECL.match(body)
        encoding, _ = choose_encoding(body, declared.group(1).decode() if declared else None)
        data = body.decode(encoding or (declared.group(1).decode() if declared else "utf-8"),
                           errors="replace").encode("utf-8")
    data, replaced = clean_xml(data)
    parser = etree.XMLParser(recover=True, encoding="utf-8", resolve_entities=False,
                             no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError:
        root = None
    damaged = any(e.level >= etree.ErrorLevels.ERROR for e in parser.error_log)
    return Feed(root, len(_ENTRY_TAG.findall(_HIDDEN.sub(b"", data))), replaced, damaged)


def feed_root(response: Any) -> Any:
    """The parsed feed (lxml, recovering from broken XML), or None when it is not XML at all."""
    return read_feed(response).root


class RssSpider(SourceSpider):
    """A feed → articles."""

    name = "rss"

    async def start(self) -> Any:
        """The feed URL."""
        if self.report.fatal:
            return
        yield self.request(self.source.url, self.parse_feed, start=True)

    def parse_feed(self, response: Any) -> Iterator[Any]:
        """Every entry of the feed → an item, or a request for its page first.

        Entries the parser could not read (the feed is cut short, or broken past repair) are
        counted as errors ("unreadable feed entry"), one per entry the bytes hold beyond those
        read: never silently fewer.
        """
        feed = read_feed(response)
        root = feed.root
        if root is None:
            self.report.error("parse: not a feed", response.url)
            return
        if feed.replaced:
            self.report.warn("characters XML forbids replaced")
        entries = [el for el in root.iter() if _local(el) in ("item", "entry")]
        if feed.damaged:
            self.report.warn("damaged feed")
            self.report.note(f"damaged feed (read what could be read): {response.url}")
        lost = feed.raw_entries - len(entries)
        if lost > 0:
            self.report.error("unreadable feed entry", response.url,
                              f"{lost} of {feed.raw_entries} entries could not be read",
                              count=lost)
        if not entries:
            self.report.warn("empty feed")
            self.report.note(f"no <item> or <entry> in {response.url}")
        detail = self.source.fetch_detail and bool(self.source.selectors.get("content"))
        seen: dict[str, str] = {}  # guid → link of the first entry with it
        for entry in entries:
            item = self.entry_item(entry, response, seen)
            if item is None:
                continue
            if not self.take():
                self.report.warn("not followed (max_items/limit)")
                continue
            if detail and item.url.startswith(response.url + "#"):  # no page of its own
                yield item
            elif detail and item.url and too_long(self, item.url):
                self.report.warn("detail page not fetched (address too long)")
                yield item
            elif detail and item.url:
                # guids, not URLs, tell entries apart: two entries may share one page
                yield self.request(item.url, self.parse_detail, dont_filter=True,
                                   fallback_item=item)
            else:
                yield item

    def entry_item(self, entry: Any, response: Any, seen: dict[str, str] | None = None) -> Any:
        """One feed entry → an item (None, counted, when it has no link and no id, or repeats
        an entry of ``seen``: guid → link of the entries read so far)."""
        title = inline(html_to_text(_child_text(entry, "title")))
        link = ""
        for child in entry:
            if _local(child) != "link":
                continue
            href = child.get("href")
            if href and child.get("rel", "alternate") == "alternate":
                link = href
                break
            if not href and (child.text or "").strip():
                link = child.text.strip()
                break
        guid = _child_text(entry, "guid", "id")
        if not link and guid.startswith(("http://", "https://")):
            link = guid
        if not link:
            self.report.skip("entry without link", response.url)
            return None
        try:
            joined = response.urljoin(link)
        except ValueError:  # "http://[::1": urljoin refuses an invalid IPv6 host
            joined = ""
        if not joined or absolute(response, joined) is None:  # javascript:, ftp:, bad port
            if not guid:
                self.report.skip("entry with an unusable link", response.url)
                self.report.note(f"entry with an unusable link {link[:100]!r}: {response.url}")
                return None
            self.report.warn("unusable link")  # kept, at the feed's address (never javascript:)
            web = guid.startswith(("http://", "https://")) and absolute(response, guid)
            joined = web or f"{response.url}#{quote(guid)}"
        link = joined
        texts = [html_to_text(_child_text(entry, name)) for name in _TEXT_TAGS]
        text = max(texts, key=len)
        if not title and not text:
            self.report.skip("no title or text", link)
            return None
        platform_id = guid or link
        if seen is not None:
            first = seen.get(platform_id)
            if first is None:
                seen[platform_id] = link
            elif first == link:  # the same entry twice
                self.report.skip("duplicate entry", link)
                return None
            else:  # a feed that gives one guid to different pages: the link tells them apart
                self.report.warn("duplicate guid")
                self.report.note(f"duplicate guid {guid!r} on {link} (first on {first}); "
                                 f"the entry's id comes from its link")
                platform_id = link
        raw_date = next((d for d in (_child_text(entry, t) for t in _DATE_TAGS) if d), "")
        if not raw_date:
            self.report.warn("no date")
        author_el = _child(entry, "author", "creator")
        author = None
        if author_el is not None:
            name = _child_text(author_el, "name")
            author = inline(name or "".join(author_el.itertext()))[:100] or None
        categories = [inline(c.get("term") or "".join(c.itertext()))
                      for c in entry if _local(c) == "category"]
        extra: dict[str, Any] = ({"categories": [c for c in categories if c]}
                                 if any(categories) else {})
        if platform_id != (guid or link):
            extra["guid"] = guid
        published = self.parse_date(raw_date, extra=extra)
        return self.make_item(link, title=title, text=text, kind="article", author=author,
                              published_at=published, platform_id=platform_id, extra=extra)

    def parse_detail(self, response: Any) -> Iterator[Any]:
        """The entry's page: its ``content`` replaces the feed description when found."""
        item = response.meta["fallback_item"]
        if isinstance(response, TextResponse):
            text = self.field(response, "content")
            if text:
                item.text = text
            else:
                self.report.warn("content from feed description")
        yield item
