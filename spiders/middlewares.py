"""Downloader middleware that fixes the text encoding of pages whose declarations lie.

Chinese sites often declare ``gb2312`` in ``<meta>`` while serving UTF-8 (or the reverse), and
Scrapy trusts the declaration; :func:`spiders.charset.choose_encoding` decides what to read the
bytes with, and the choice is counted in the run report ("charset corrected",
"undecodable bytes").
"""
from __future__ import annotations

import logging
from typing import Any

from scrapy.http import TextResponse

from spiders.charset import choose_encoding

log = logging.getLogger(__name__)


class CharsetMiddleware:
    """Re-decodes text responses whose declared charset does not fit their bytes."""

    def __init__(self, crawler: Any):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> "CharsetMiddleware":
        """Scrapy entry point."""
        return cls(crawler)

    def process_response(self, request: Any, response: Any) -> Any:
        """Return the response, re-decoded when its encoding was wrong."""
        if not isinstance(response, TextResponse) or not response.body:
            return response
        spider = self.crawler.spider
        forced = getattr(getattr(spider, "source", None), "encoding", "") or None
        try:
            encoding, warning = choose_encoding(response.body, response.encoding, forced)
        except Exception:  # noqa: BLE001 - never lose a page over charset guessing
            log.exception("charset check failed for %s", response.url)
            return response
        report = getattr(spider, "report", None)
        if warning and report is not None:
            report.warn(warning)
            if warning == "undecodable bytes":
                report.note(f"undecodable bytes (read with replacement characters): "
                            f"{response.url}")
        if encoding:
            log.debug("reading %s as %s (declared %s)", response.url, encoding,
                      response.encoding)
            return response.replace(encoding=encoding)
        return response
