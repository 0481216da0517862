"""Scrapy extension that counts pages and uncaught errors and writes the run report at close."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from scrapy import signals

log = logging.getLogger(__name__)


class RunReportExtension:
    """Feeds the spider's :class:`~spiders.report.RunReport` from Scrapy signals."""

    def __init__(self, crawler: Any):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> "RunReportExtension":
        """Connect the signals (strong references: Scrapy holds handlers weakly)."""
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.spider_error, signal=signals.spider_error)
        crawler.signals.connect(ext.item_error, signal=signals.item_error)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def _report(self):
        return getattr(self.crawler.spider, "report", None)

    def spider_opened(self, spider: Any) -> None:
        """The crawl proper starts now (start-up and imports are not part of ``seconds``)."""
        report = getattr(spider, "report", None)
        if report is not None:
            report.started_at = datetime.now(timezone.utc)

    def response_received(self, response: Any, request: Any, **kwargs: Any) -> None:
        """One more page seen, whatever its status."""
        report = self._report()
        if report is not None and not request.meta.get("dont_obey_robotstxt"):
            report.pages += 1  # robots.txt itself is not a page of the site

    def spider_error(self, failure: Any, response: Any, **kwargs: Any) -> None:
        """A callback raised: count it as a parse error of that page."""
        report = self._report()
        if report is not None:
            report.error(f"parse: {failure.type.__name__}", getattr(response, "url", ""),
                         str(failure.value)[:200])

    def item_error(self, item: Any, response: Any, failure: Any, **kwargs: Any) -> None:
        """The pipeline raised on an item: the document is lost, so say so loudly."""
        report = self._report()
        if report is not None:
            report.error(f"pipeline: {failure.type.__name__}", getattr(item, "url", ""),
                         str(failure.value)[:200])

    def spider_closed(self, spider: Any, reason: str) -> None:
        """Write the report file named by ``-a report=...``."""
        report = getattr(spider, "report", None)
        path = getattr(spider, "report_path", "")
        if report is None or not path:
            return
        try:
            report.write(path, finish_reason=reason)
        except OSError:
            log.exception("cannot write the run report to %s", path)
