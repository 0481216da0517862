"""Base spider: loads its source from the configuration directory and counts what it does.

Arguments (``-a name=value``): ``source`` (id), ``config_dir``, ``report`` (JSON path written at
close), ``dry_run`` (1 = no store; items go to ``output`` as JSON lines), ``limit`` (at most this
many documents, on top of the source's ``max_items``), ``handoff`` (a folder: collected documents
are handed to the running service there instead of being stored, see monitor/handoff.py) and
``handoff_label`` (the run's label in those file names).
"""
from __future__ import annotations

import gzip
import logging
import struct
import zlib
from typing import Any, Iterator

import scrapy
from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError, IgnoreRequest
from scrapy.http import TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from monitor.config import MonitorConfig, SourceConfig, load_config
from monitor.documents import Document, Gone, Reply
from monitor.timeparse import parse_datetime_info
from spiders.report import RunReport
from spiders.selectors import extract

log = logging.getLogger(__name__)


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


#: What HttpCompressionMiddleware raises for a body that does not decompress.
_BROKEN_BODY = (zlib.error, gzip.BadGzipFile, EOFError, struct.error)
_TOO_BIG = "response larger than DOWNLOAD_MAXSIZE"


def failure_reason(failure: Any) -> tuple[str, bool]:
    """(reason, skipped?) for a failed request, named after what Scrapy signalled.

    A request Scrapy chose not to complete is a *skip*: robots.txt, too many redirects
    (RedirectMiddleware's IgnoreRequest "max redirections reached"), a body over
    DOWNLOAD_MAXSIZE (the download handler's DownloadCancelledError when the size is known or
    reached, HttpCompressionMiddleware's IgnoreRequest when it is reached while unpacking).
    Anything else is an *error*: ``HTTP 404``, ``download timeout``, ``broken gzip/deflate
    body`` (zlib or gzip errors from HttpCompressionMiddleware), ``unusable redirect address``
    (a Location with a bad host or port), else ``download: <exception type>``.
    """
    value = failure.value
    text = str(value)
    if failure.check(HttpError):
        return f"HTTP {value.response.status}", False
    if failure.check(IgnoreRequest):
        if "robots.txt" in text:
            return "robots.txt disallows", True
        if "max redirections" in text:
            return "too many redirects", True
        if "DOWNLOAD_MAXSIZE" in text:
            return _TOO_BIG, True
        return "request ignored", True
    if failure.check(DownloadCancelledError) and "max size" in text:
        return _TOO_BIG, True
    if failure.check(DownloadTimeoutError):
        return "download timeout", False
    if failure.check(*_BROKEN_BODY):
        return "broken gzip/deflate body", False
    if failure.check(ValueError) and ("IPv6 URL" in text or "Port " in text):
        return "unusable redirect address", False
    return f"download: {failure.type.__name__}", False


class SourceSpider(scrapy.Spider):
    """A spider driven by one ``config/sources/<id>.toml`` file."""

    name: str | None = None

    def __init__(self, source: str = "", config_dir: str = "", report: str = "",
                 dry_run: str = "", limit: str = "", output: str = "", handoff: str = "",
                 handoff_label: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        if not source:
            raise ValueError("a source id is required: scrapy crawl <spider> -a source=<id>")
        self.config: MonitorConfig = load_config(config_dir or None)
        self.source: SourceConfig = self.config.source(source)
        if self.source.spider != self.name:
            raise ValueError(f"source {source!r} uses spider {self.source.spider!r}, "
                             f"not {self.name!r}")
        self.report_path = report
        self.dry_run = _flag(dry_run)
        self.output_path = output
        self.handoff_dir = handoff
        self.handoff_label = handoff_label or f"run0-{source}"
        self.report = RunReport(source=self.source.id, spider=str(self.name),
                                dry_run=self.dry_run)
        budgets = [n for n in (self.source.max_items, int(limit or 0)) if n > 0]
        self.budget: int | None = min(budgets) if budgets else None
        self.scheduled = 0  # documents asked for (detail requests or feed entries)
        self.seen_urls: set[str] = set()
        self.bad_selectors: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> "SourceSpider":
        """Build the spider and apply the ``[crawl]`` politeness settings before they freeze
        (the download timeout: the source's own ``download_timeout``, else ``[crawl]``'s).

        ``-s NAME=value`` on the command line still wins (a higher priority than "spider")."""
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawl = spider.config.crawl
        settings = crawler.settings
        if not settings.frozen:
            settings.set("ROBOTSTXT_OBEY", crawl.obey_robots, priority="spider")
            settings.set("USER_AGENT", crawl.user_agent, priority="spider")
            settings.set("DOWNLOAD_DELAY", crawl.download_delay, priority="spider")
            settings.set("DOWNLOAD_TIMEOUT", spider.source.download_timeout
                         or crawl.download_timeout, priority="spider")
            settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", crawl.concurrent_requests,
                         priority="spider")
        return spider

    # -- budget ----------------------------------------------------------------------------------

    def take(self) -> bool:
        """Reserve one document of the budget; False once ``max_items`` / ``limit`` is reached."""
        if self.budget is not None and self.scheduled >= self.budget:
            return False
        self.scheduled += 1
        return True

    # -- requests and errors ---------------------------------------------------------------------

    def request(self, url: str, callback: Any, *, start: bool = False,
                dont_filter: bool = False, **meta: Any) -> scrapy.Request:
        """A request whose failures are counted (and whose start URL is watched).

        ``dont_filter``: fetch even a URL already requested (Scrapy's duplicate filter drops a
        repeat silently, without calling the errback).
        """
        meta["start"] = start
        return scrapy.Request(url, callback=callback, errback=self.on_error, meta=meta,
                              dont_filter=start or dont_filter)

    def on_error(self, failure: Any) -> Iterator[Any]:
        """Count a download or HTTP error; yield the fallback item a request carried, if any."""
        request = getattr(failure, "request", None)
        if request is None and failure.check(HttpError):
            request = failure.value.response.request
        url = request.url if request is not None else "?"
        meta = request.meta if request is not None else {}
        kind, skipped = failure_reason(failure)
        if skipped:
            if meta.get("fallback_item") is not None:  # the entry is kept, from the feed
                self.report.warn(f"detail page not fetched ({kind})")
            else:
                self.report.skip(kind, url)
        else:
            detail = "" if failure.check(HttpError) else str(failure.value)[:200]
            self.report.error(kind, url, detail)
        if meta.get("start"):
            self.report.unreachable.append(url)
            self.report.note(f"start URL unreachable ({kind}): {url}")
        elif failure.check(HttpError) and failure.value.response.status in (404, 410) \
                and meta.get("fallback_item") is None:
            # taken down: the pipeline marks a document collected from it before as withdrawn
            yield Gone(self.source.id, url, failure.value.response.status)
            return
        fallback = meta.get("fallback_item")
        if fallback is not None:
            yield fallback

    # -- reading pages ---------------------------------------------------------------------------

    def is_page(self, response: Any) -> bool:
        """True for a text response; other bodies (PDF, images) are counted as skipped."""
        if isinstance(response, TextResponse):
            return True
        self.report.skip("not an HTML page", response.url)
        return False

    def field(self, node: Any, name: str, *, one_line: bool = False) -> str | None:
        """Text of selector ``name`` ("" when it found nothing); None when it is not configured."""
        expr = self.source.selectors.get(name)
        if not expr:
            return None
        try:
            text = extract(node, expr, one_line=one_line)
        except ValueError as exc:
            if name not in self.bad_selectors:
                self.bad_selectors.add(name)
                self.report.error(f"bad selector {name}", self.source.id, str(exc)[:200])
            text = ""
        self.report.selector(name, bool(text))
        return text

    def parse_date(self, raw: str | None, what: str = "date", *,
                   extra: dict[str, Any] | None = None) -> Any:
        """A UTC datetime from page text; an unreadable one is counted as "unparsed date".

        A relative date (「3小时前」「昨天 12:30」) is rounded to the minute and, when ``extra`` is
        given, flagged there as ``date_relative`` so that a re-crawl of unchanged content keeps
        the first-seen date instead of a drifting one.  A date without a readable time of day
        (「2022-09-30」, 「2026年11月24日 25:61」) is kept as local midnight, counted as
        "date without time" and flagged as ``date_only``: never a silent 00:00.  The flags are
        named after ``what``: a "reply date" sets ``reply_date_relative`` / ``reply_date_only``.
        """
        if not raw:
            return None
        info = parse_datetime_info(raw, tz=self.config.timezone)
        if info.value is None:
            self.report.warn(f"unparsed {what}")
            self.report.note(f"unparsed {what}: {raw[:60]!r}")
            return None
        key = what.replace(" ", "_")
        if info.relative:
            self.report.warn(f"relative {what}")
            if extra is not None:
                extra[f"{key}_relative"] = True
        if info.date_only:
            self.report.warn(f"{what} without time")
            if self.report.warnings[f"{what} without time"] <= 3:  # a few examples, not 1 a page
                self.report.note(f"{what} without time: {raw[:60]!r}")
            if extra is not None:
                extra[f"{key}_only"] = True
        return info.value

    def make_item(self, url: str, *, reply_text: str = "", reply_unit: str | None = None,
                  replied_at: Any = None, **fields: Any) -> Document:
        """A Document stamped with the source's id, channel, ``own`` flag and defaults.

        Its id comes from the source and the platform id or URL; empty strings become None.
        """
        for key in ("place", "department", "author", "platform_id"):
            fields[key] = fields.get(key) or None
        fields["place"] = fields["place"] or self.source.place or None
        fields["department"] = fields["department"] or self.source.department or None
        reply = Reply(reply_text, reply_unit or None, replied_at) if reply_text.strip() else None
        return Document.new(self.source.id, self.source.channel, url, own=self.source.own,
                            reply=reply, **fields)
