"""List pages → detail pages, with pagination: shared by the news-list and message-board spiders.

Pagination: the ``next_page`` selector is followed while fewer than ``max_pages`` list pages
were read; without one, when ``page_url`` is set, pages 2..max_pages are built from it (``{page}``).
``max_pages = 0`` means no page limit: ``next_page`` is followed to the end, and ``page_url``
pages are asked for one at a time until a page brings no new link.
"""
from __future__ import annotations

import re
from typing import Any, Iterator
from urllib.parse import urldefrag, urlsplit

from w3lib.url import safe_url_string

from spiders.generic.base import SourceSpider
from spiders.selectors import select

_WORD = re.compile(r"[\u4e00-\u9fff\w]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
HARD_PAGE_CAP = 10_000


def _scheme(href: str) -> str:
    found = _SCHEME.match(href)
    return found.group(1).lower() if found else ""


def _usable(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port out of range or not a number raises ValueError
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def absolute(response: Any, href: str) -> str | None:
    """``href`` resolved against the page, without its fragment; None when it cannot be a
    crawlable address (``http://[::1``, a port out of range, ``javascript:``)."""
    try:
        url = urldefrag(response.urljoin(href.strip()))[0]
    except ValueError:  # urljoin refuses an invalid IPv6 host outright
        return None
    return url if _usable(url) else None


def page_address(template: str, page: int) -> str:
    """List page ``page`` of a ``page_url`` template (only ``{page}`` is replaced: other braces
    in an address are text, not format fields)."""
    return template.replace("{page}", str(page))


def too_long(spider: Any, url: str) -> bool:
    """True when Scrapy would drop a request for ``url`` without a word (``URLLENGTH_LIMIT``,
    2083 characters by default): the caller must count it instead."""
    settings = getattr(spider, "settings", None)
    limit = settings.getint("URLLENGTH_LIMIT", 2083) if settings is not None else 2083
    return bool(limit) and len(safe_url_string(url)) > limit  # as the request will have it


class ListSpider(SourceSpider):
    """Reads list pages and hands each new link to :meth:`parse_detail`."""

    async def start(self) -> Any:
        """The list page (and the ``page_url`` pages when max_pages is set)."""
        if self.report.fatal:
            return
        self.seen_urls.add(self.source.url)
        yield self.request(self.source.url, self.parse_list, start=True, page=1)
        if self.source.page_url and self.source.max_pages > 1 \
                and not self.source.selectors.get("next_page"):
            for page in range(2, min(self.source.max_pages, HARD_PAGE_CAP) + 1):
                url = page_address(self.source.page_url, page)
                self.seen_urls.add(url)
                yield self.request(url, self.parse_list, page=page)

    def hrefs(self, response: Any, name: str) -> list[str]:
        """Link targets found by selector ``name``: attribute/text values, or the href of each
        selected element (or of the links inside it)."""
        try:
            nodes = select(response, self.source.selectors[name])
        except ValueError as exc:
            if name not in self.bad_selectors:
                self.bad_selectors.add(name)
                self.report.error(f"bad selector {name}", self.source.id, str(exc)[:200])
            nodes = []
        raw: list[str] = []
        for node in nodes:
            if isinstance(node.root, str):
                raw.append(node.root)
            elif not hasattr(node.root, "tag"):  # an XPath number or boolean: no link in it
                continue
            elif node.attrib.get("href"):
                raw.append(node.attrib["href"])
            else:
                raw.extend(node.xpath(".//a/@href").getall())
        self.report.selector(name, bool(raw))
        return raw

    def list_links(self, response: Any) -> list[str]:
        """Detail links of a list page, absolute, in page order, without repeats."""
        if self.source.selectors.get("links"):
            raw = self.hrefs(response, "links")
        else:
            raw = self._guess_links(response)
            self.report.warn("links fallback")
        links: list[str] = []
        for href in raw:
            href = href.strip()
            if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
                continue
            url = absolute(response, href)
            if url is None:
                if _scheme(href) in ("", "http", "https"):  # meant as a link to a page: say so
                    self.report.warn("unusable link")
                    self.report.note(f"unusable link {href[:100]!r} on {response.url}")
                continue
            if url not in links:
                links.append(url)
        return links

    def _guess_links(self, response: Any) -> list[str]:
        """Without a ``links`` selector: same-site links whose text reads like a headline."""
        host = urlsplit(response.url).netloc
        found = []
        for a in response.xpath("//a[@href]"):
            text = "".join(a.xpath(".//text()").getall())
            href = a.attrib["href"]
            url = absolute(response, href)
            if len(_WORD.findall(text)) >= 8 and url and urlsplit(url).netloc == host:
                found.append(href)
        return found

    def parse_list(self, response: Any) -> Iterator[Any]:
        """Schedule the detail pages of one list page and the next list page."""
        if not self.is_page(response):
            return
        page = response.meta.get("page", 1)
        links = self.list_links(response)
        if not links:
            self.report.warn("empty list page")
            self.report.note(f"no links found on list page {page}: {response.url}")
        new = 0
        for url in links:
            if url in self.seen_urls:
                continue
            self.seen_urls.add(url)
            if not self.take():
                self.report.warn("not followed (max_items/limit)")
                continue
            new += 1
            if too_long(self, url):
                self.report.skip("address too long to fetch", url[:200])
                continue
            yield self.request(url, self.parse_detail, list_page=page)
        limit = self.source.max_pages or HARD_PAGE_CAP
        if page >= limit or (self.budget is not None and self.scheduled >= self.budget):
            return  # enough list pages, or enough documents already asked for
        next_hrefs = self.hrefs(response, "next_page") if self.source.selectors.get("next_page") \
            else []
        if next_hrefs:
            next_url = absolute(response, next_hrefs[0])
            if next_url is not None and too_long(self, next_url):
                self.report.warn("next page address too long")
                next_url = None
            if next_url is not None and next_url not in self.seen_urls:
                self.seen_urls.add(next_url)
                yield self.request(next_url, self.parse_list, page=page + 1)
        elif self.source.page_url and self.source.max_pages == 0 and new \
                and not self.source.selectors.get("next_page"):
            url = page_address(self.source.page_url, page + 1)
            self.seen_urls.add(url)
            yield self.request(url, self.parse_list, page=page + 1)

    def parse_detail(self, response: Any) -> Iterator[Any]:  # pragma: no cover - abstract
        """Turn one detail page into an item (subclasses)."""
        raise NotImplementedError
