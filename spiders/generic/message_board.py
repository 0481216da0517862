"""``message_board``: 领导信箱 / 留言板 / 12345 pages → one message document per letter.

Selectors: ``links``, ``next_page`` (list pages); ``title``, ``question``, ``asker``,
``submitted``, ``unit``, ``number``, ``reply``, ``reply_unit``, ``reply_time``, ``status``,
``place`` (detail pages).

* a non-empty reply makes the status "replied", else "pending" — unless the page's own status
  word (kept in ``extra["site_status"]``) says otherwise;
* the letter number becomes the platform id, so the document id survives URL changes — unless
  the number repeats on another letter's page (a ``number`` selector that matches something
  page-wide): then that letter's id comes from its URL, the number is kept in ``extra["number"]``
  and the report counts a "duplicate letter number";
* a relative submitted date (「3小时前」) sets ``extra["date_relative"]``;
* the asker keeps the surname only, and a reply's opening salutation is masked the same way.

With ``format = "json"`` the pages are a JSON API's and the selectors dotted paths into it: see
:mod:`spiders.generic.json_board`; each record then goes through the same rules.
"""
from __future__ import annotations

import hashlib
import logging
import re
from typing import Any, Iterator

from monitor.documents import STATUS_PENDING, STATUS_REPLIED
from spiders.generic.json_board import JsonBoardMixin
from spiders.generic.listing import ListSpider
from spiders.privacy import mask_name, mask_salutation
from spiders.selectors import inline

log = logging.getLogger(__name__)

_PENDING_WORDS = ("未回复", "未答复", "待回复", "待答复", "未办结", "办理中", "处理中", "待处理",
                  "受理中", "已受理", "待办理", "转办", "交办", "审核中", "待审核", "调查中")
_REPLIED_WORDS = ("已回复", "已答复", "已办结", "办结", "已处理", "已反馈", "已解决", "已完成",
                  "已公开", "已回访", "已评价")
_TAIL_DATE = re.compile(r"((?:19|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日)\s*$")
_NUMBER_LABEL = re.compile(r"^\s*(?:信件|留言|来信|工单|受理)?(?:编号|编码|单号|序号)\s*[:：]?\s*")
_ASKER_LABEL = re.compile(r"^\s*(?:来信人|留言人|反映人|提问人|网友|姓名|留言者)\s*[:：]\s*")


def status_from_site(word: str) -> str | None:
    """Map a site's status word to "replied" / "pending" (None when it is not recognised)."""
    if any(w in word for w in _PENDING_WORDS):
        return STATUS_PENDING
    if any(w in word for w in _REPLIED_WORDS):
        return STATUS_REPLIED
    return None


class MessageBoardSpider(JsonBoardMixin, ListSpider):
    """List page → letter pages (or JSON records), each a message with its official reply."""

    name = "message_board"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # letter number → (URL, hash of title and question) of this crawl's first letter with it
        self.numbers: dict[str, tuple[str, str]] = {}

    async def start(self) -> Any:
        """HTML list pages, or the JSON API's pages with ``format = "json"``."""
        pages = self.start_json() if self.source.format == "json" else super().start()
        async for request in pages:
            yield request

    def mask_reply(self, reply: str) -> str:
        """A reply with its opening salutation masked."""
        return mask_salutation(reply)

    def parse_detail(self, response: Any) -> Iterator[Any]:
        """One letter page → one message item (or a counted skip)."""
        if not self.is_page(response):
            return
        question = self.field(response, "question") or ""
        title = self.field(response, "title", one_line=True) or ""
        if not title:
            title = inline(" ".join(response.xpath("//h1//text()").getall()))
            if not title and question:
                title = inline(question.splitlines()[0])[:40]
            if title:
                self.report.warn("title fallback")
        reply = mask_salutation(self.field(response, "reply") or "")
        if not (title or question or reply):
            self.report.skip("no title or text", response.url)
            return
        number = _NUMBER_LABEL.sub("", self.field(response, "number", one_line=True) or "")
        content = hashlib.sha1(f"{title}\x1f{question}".encode("utf-8")).hexdigest()
        extra: dict[str, Any] = {}
        platform_id = self.platform_id(number, response.url, content, extra)
        # the list page is not kept: a letter that moved to another page is not "updated"
        log.debug("%s from list page %s", response.url, response.meta.get("list_page"))
        yield self.letter_item(
            response.url, title=title, question=question, reply=reply, platform_id=platform_id,
            extra=extra,
            asker=_ASKER_LABEL.sub("", self.field(response, "asker", one_line=True) or ""),
            unit=self.field(response, "unit", one_line=True) or "",
            reply_unit=self.field(response, "reply_unit", one_line=True) or "",
            site_status=self.field(response, "status", one_line=True) or "",
            submitted_raw=self.field(response, "submitted", one_line=True),
            reply_time_raw=self.field(response, "reply_time", one_line=True),
            place=self.field(response, "place", one_line=True) or "")

    def letter_item(self, url: str, *, title: str, question: str, reply: str,
                    platform_id: str | None, extra: dict[str, Any], asker: str, unit: str,
                    reply_unit: str, site_status: str, submitted_raw: str | None,
                    reply_time_raw: str | None, place: str) -> Any:
        """The message item for one letter, from its fields as found (HTML page or JSON record):
        dates parsed, asker masked, status decided."""
        submitted = self.parse_date(submitted_raw, extra=extra)
        replied_at = self.parse_date(reply_time_raw, "reply date", extra=extra)
        if reply and replied_at is None:
            tail = _TAIL_DATE.search(reply)
            if tail:
                replied_at = self.parse_date(tail.group(1), "reply date", extra=extra)
                self.report.warn("reply date from reply text")
        status = STATUS_REPLIED if reply else STATUS_PENDING
        if site_status:
            extra["site_status"] = site_status
            mapped = status_from_site(site_status)
            if mapped and mapped != status:
                self.report.warn(f"site says {mapped}")
                status = mapped
        if not submitted_raw:
            self.report.warn("no submitted date")
        return self.make_item(
            url, title=title, text=question, kind="message",
            author=mask_name(asker) if asker else None, published_at=submitted,
            department=unit or reply_unit or None, place=place or None,
            platform_id=platform_id, status=status, reply_text=reply,
            reply_unit=reply_unit or None, replied_at=replied_at, extra=extra)

    def platform_id(self, number: str, url: str, content: str, extra: dict[str, Any]
                    ) -> str | None:
        """The letter number as platform id, or None (the URL decides the id) when it is empty
        or another letter of this crawl (another URL, other content) already had it."""
        if not number:
            return None
        first, first_content = self.numbers.setdefault(number, (url, content))
        if first == url or first_content == content:  # the same letter (maybe by another URL)
            return number
        self.report.warn("duplicate letter number")
        self.report.note(f"duplicate letter number {number!r} on {url} (first on {first}); "
                         f"the letter's id comes from its URL")
        extra["number"] = number
        return None
