"""``message_board`` with ``format = "json"``: a JSON API's list pages → one message per record.

Selectors are dotted paths into the JSON (``data.result``, ``reply.text``, ``list.0.id``):
``items`` (required) is the path from the page to its list of records; every other selector is a
path from one record (``title``, ``question``, ``asker``, ``submitted``, ``unit``, ``number``,
``reply``, ``reply_unit``, ``reply_time``, ``status``, ``place``, ``link``).

Pages: page 1 is ``url``; pages 2.. come from ``page_url`` (``{page}``), or, when
``request_body`` is set, are POSTed to ``page_url`` or ``url`` with ``{page}`` in the body
replaced by the page number.  Pages are read one after the other, until ``max_pages`` (0 = no
limit) or a page without records.

A record's document URL is its ``link`` (resolved against the list page), else
``<url>#<number>`` (else ``<url>#<hash of title and text>``).  Its id comes from the letter
number, else from that whole address (fragment included: two records without a link or a
number are two documents).
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Iterator
from urllib.parse import urldefrag

import scrapy
from scrapy.http import TextResponse

from monitor.documents import make_doc_id
from spiders.generic.listing import absolute


JSON_HARD_PAGE_CAP = 10_000
_MISSING = object()
_SURROGATE = re.compile("[\ud800-\udfff]")


def get_path(data: Any, path: str) -> Any:
    """The value at a dotted path (dict keys, list indexes); ``_MISSING`` when absent."""
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


class JsonBoardMixin:
    """JSON list pages for :class:`MessageBoardSpider` (which supplies the letter logic)."""

    source: Any
    report: Any

    # -- requests --------------------------------------------------------------------------------

    def json_request(self, page: int) -> scrapy.Request | None:
        """The request for list page ``page`` (None when the source cannot say where it is)."""
        src = self.source
        body = src.request_body.replace("{page}", str(page)) if src.request_body else None
        if page == 1:
            url = src.url
        elif src.page_url:
            url = src.page_url.replace("{page}", str(page))
        elif src.request_body and "{page}" in src.request_body:
            url = src.url
        else:
            return None  # nothing changes from page to page
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs = {"method": "POST", "body": body.encode("utf-8"),
                      "headers": {"Content-Type": "application/json",
                                  "Accept": "application/json"}}
        return scrapy.Request(url, callback=self.parse_json_list, errback=self.on_error,
                              meta={"start": page == 1, "page": page}, dont_filter=True,
                              **kwargs)

    async def start_json(self) -> Any:
        """Page 1; the next pages are asked for by :meth:`parse_json_list`."""
        if self.report.fatal:
            return
        yield self.json_request(1)

    # -- reading ---------------------------------------------------------------------------------

    def load_json(self, response: Any) -> Any:
        """The parsed body, or ``_MISSING`` (counted as an error) when it is not JSON."""
        try:
            text = response.text if isinstance(response, TextResponse) \
                else response.body.decode("utf-8-sig")
            return json.loads(text)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            if isinstance(exc, RecursionError):  # arrays or objects nested ~1,000 deep
                exc = ValueError("nested too deeply to read")
            start = response.body[:60].decode("utf-8", "replace").strip()
            self.report.error("not JSON", response.url, f"{exc}; the body starts {start!r}")
            return _MISSING

    def value(self, record: dict, name: str) -> str | None:
        """Text at selector ``name`` of one record ("" when absent or empty; None when the
        selector is not configured).  Numbers are stringified; lists and objects are not text."""
        path = self.source.selectors.get(name)
        if not path:
            return None
        raw = get_path(record, path)
        if raw is _MISSING or raw is None:
            text = ""
        elif isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, (int, float)):
            text = str(raw)
        elif isinstance(raw, str):
            text = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
            if _SURROGATE.search(text):  # "\ud800" in the JSON: not a character, cannot be stored
                self.report.warn("invalid characters replaced")
                text = _SURROGATE.sub("\ufffd", text)
        else:
            self.report.warn(f"not text: {name}")
            text = ""
        self.report.selector(name, bool(text))
        return text

    def one_line(self, record: dict, name: str) -> str:
        return " ".join((self.value(record, name) or "").split())

    def parse_json_list(self, response: Any) -> Iterator[Any]:
        """One page of records → message items, then the next page while this one had any."""
        page = response.meta.get("page", 1)
        data = self.load_json(response)
        if data is _MISSING:
            return
        records = get_path(data, self.source.selectors["items"])
        found = isinstance(records, list)
        self.report.selector("items", found)
        if not found:
            self.report.note(f"items = {self.source.selectors['items']!r} is not a list on "
                             f"page {page}: {response.url}")
            return
        if not records:
            if page == 1:
                self.report.warn("empty list page")
            self.report.note(f"no records on list page {page}: {response.url}")
            return
        seen: set[str] = self.__dict__.setdefault("json_seen", set())
        new = 0
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                self.report.skip("record is not an object", f"{response.url} page {page} "
                                 f"record {index}")
                continue
            key = json.dumps(record, sort_keys=True, ensure_ascii=False)
            if key in seen:  # an API that ignores the page number sends page 1 again
                continue
            seen.add(key)
            new += 1
            if not self.take():
                self.report.warn("not followed (max_items/limit)")
                continue
            yield from self.json_record(record, response)
        limit = self.source.max_pages or JSON_HARD_PAGE_CAP
        if not new:
            self.report.warn("list page repeats earlier records")
            self.report.note(f"list page {page} only repeats earlier records: {response.url}")
            return
        if page >= limit or (self.budget is not None and self.scheduled >= self.budget):
            return
        request = self.json_request(page + 1)
        if request is not None:
            yield request

    def json_record(self, record: dict, response: Any) -> Iterator[Any]:
        """One record → one message item (or a counted skip)."""
        question = self.value(record, "question") or ""
        title = self.one_line(record, "title")
        if not title and question:
            title = " ".join(question.splitlines()[0].split())[:40]
            self.report.warn("title fallback")
        reply = self.mask_reply(self.value(record, "reply") or "")
        if not (title or question or reply):
            self.report.skip("no title or text", response.url)
            return
        number = self.one_line(record, "number")
        content = hashlib.sha1(f"{title}\x1f{question}".encode("utf-8")).hexdigest()
        link = self.one_line(record, "link")
        url = (absolute(response, link) or "") if link else ""
        if link and not url:  # javascript:, mailto:, "http://[::1", a port out of range
            self.report.warn("unusable link")
        base = urldefrag(self.source.url)[0]
        extra: dict[str, Any] = {}
        # without a link the guard tells records apart by content (their URLs are built below)
        platform_id = self.platform_id(number, url or f"{base}#{content[:16]}", content, extra)
        if not url:
            url = f"{base}#{platform_id}" if platform_id else f"{base}#{content[:16]}"
        item = self.letter_item(
            url, title=title, question=question, reply=reply, platform_id=platform_id,
            extra=extra, asker=self.one_line(record, "asker"),
            unit=self.one_line(record, "unit"), reply_unit=self.one_line(record, "reply_unit"),
            site_status=self.one_line(record, "status"),
            submitted_raw=self.value(record, "submitted"),
            reply_time_raw=self.value(record, "reply_time"),
            place=self.one_line(record, "place"))
        if platform_id is None and urldefrag(url)[1]:
            # <url>#<hash>: the id must come from the whole address, for canonical URLs drop
            # the fragment and every such record of the API would get one id (and overwrite
            # the others)
            item.id = make_doc_id(self.source.id, platform_id=url)
        yield item

    def mask_reply(self, reply: str) -> str:  # pragma: no cover - provided by the spider
        raise NotImplementedError

    def letter_item(self, url: str, **fields: Any) -> Any:  # pragma: no cover - the spider's
        raise NotImplementedError
