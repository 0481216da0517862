"""``news_list``: a list of news (or portal) articles → one document per article page.

Selectors: ``links``, ``next_page`` (list pages); ``title``, ``published``, ``content``,
``author``, ``place`` (article pages).  Missing or empty ones fall back to the heuristics in
:mod:`spiders.heuristics`, and every fallback is counted in the run report.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Iterator

from spiders.generic.listing import ListSpider
from spiders.heuristics import guess_published, guess_title, main_text

log = logging.getLogger(__name__)

_AUTHOR_LABEL = re.compile(r"^\s*(?:作者|记者|撰稿|文|编辑|责任编辑|来源)\s*[:：/]\s*")


class NewsListSpider(ListSpider):
    """List page → article pages."""

    name = "news_list"

    def parse_detail(self, response: Any) -> Iterator[Any]:
        """One article page → one item (or a counted skip)."""
        if not self.is_page(response):
            return
        title = self.field(response, "title", one_line=True)
        if not title:
            title = guess_title(response)
            self.report.warn("title fallback")
        text = self.field(response, "content")
        if not text:
            text = main_text(response)
            self.report.warn("content fallback")
            if not text:
                self.report.warn("no content found")
        if not title and not text:
            self.report.skip("no title or text", response.url)
            return
        raw_date = self.field(response, "published", one_line=True)
        if not raw_date:
            raw_date = guess_published(response, title)
            self.report.warn("date fallback")
        extra: dict[str, Any] = {}
        published = self.parse_date(raw_date, extra=extra)
        if not raw_date:
            self.report.warn("no date")
        author = self.field(response, "author", one_line=True) or None
        if author:
            author = _AUTHOR_LABEL.sub("", author)[:100] or None
        place = self.field(response, "place", one_line=True) or None
        # the list page is not kept: an article that moved to another page is not "updated"
        log.debug("%s from list page %s", response.url, response.meta.get("list_page"))
        yield self.make_item(response.url, title=title, text=text, kind="article",
                             author=author, published_at=published, place=place, extra=extra)
