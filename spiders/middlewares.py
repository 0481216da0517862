"""Downloader middleware that fixes the text encoding of pages whose declarations lie.

Chinese sites often declare ``gb2312`` in ``<meta>`` while serving UTF-8 (or the reverse), and
Scrapy trusts the declaration; :func:`spiders.charset.choose_encoding` decides what to read the
bytes with, and the choice is counted in the run report ("charset corrected",
"undecodable bytes").

Only what the response *declares* (Content-Type header, byte-order mark, ``<meta>`` / XML
declaration) is weighed: when nothing is declared, Scrapy's statistical guess for a short GBK page
is often a Korean, Thai or Cyrillic code page that "decodes" it into mojibake, so it is ignored.
"""
from __future__ import annotations

import logging
from typing import Any

from scrapy.http import TextResponse
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

from spiders.charset import choose_encoding

log = logging.getLogger(__name__)


def declared_encoding(response: TextResponse) -> str | None:
    """The encoding a response declares (header, BOM, ``<meta>``), never a guess from its bytes."""
    declared = getattr(response, "_declared_encoding", None)
    if callable(declared):  # Scrapy's own: an explicit encoding, BOM, header, then body
        try:
            return declared()
        except Exception:  # noqa: BLE001 - a private API that may change: fall through
            log.debug("Scrapy's declared encoding failed for %s", response.url, exc_info=True)
    content_type = response.headers.get(b"Content-Type") or b""
    return (read_bom(response.body)[0]
            or http_content_type_encoding(content_type.decode("latin-1"))
            or html_body_declared_encoding(response.body))


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
            declared = declared_encoding(response)
            encoding, warning = choose_encoding(response.body, declared, forced)
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
            log.debug("reading %s as %s (declared %s)", response.url, encoding, declared)
            return response.replace(encoding=encoding)
        return response
