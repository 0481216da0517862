"""Thin bridge from Scrapy to the monitor: item → Document → :class:`monitor.pipeline.Ingestor`.

In a dry run (``-a dry_run=1``) no store is opened: each Document is written as one JSON line to
the file named by ``-a output=...`` (or only counted when there is none).  Under the service
(``-a handoff=<inbox>``) no store is opened either: documents and Gone markers are handed to the
service through its inbox (:mod:`monitor.handoff`), which analyses and stores them.
"""
from __future__ import annotations

import json
import logging
from typing import IO, Any

from monitor.documents import Document, Gone

log = logging.getLogger(__name__)


class MonitorPipeline:
    """Hands every collected item to the monitor's ingest pipeline (or to a JSON-lines file)."""

    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.monitor = None
        self.ingestor = None
        self.output: IO[str] | None = None
        self.handoff = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> "MonitorPipeline":
        """Scrapy entry point."""
        return cls(crawler)

    @property
    def spider(self) -> Any:
        """The running spider."""
        return self.crawler.spider

    def open_spider(self) -> None:
        """Open the output file (dry run) or the monitor and its store (real crawl)."""
        spider = self.spider
        if getattr(spider, "dry_run", False):
            if getattr(spider, "output_path", ""):
                self.output = open(spider.output_path, "w", encoding="utf-8")
            return
        if getattr(spider, "handoff_dir", ""):
            from monitor.handoff import HandoffWriter

            self.handoff = HandoffWriter(spider.handoff_dir, spider.handoff_label)
            return
        from monitor.app import Monitor
        from monitor.pipeline import Ingestor

        try:
            self.monitor = Monitor(spider.config)
            self.ingestor = Ingestor(self.monitor)
            self.monitor.store  # open it now: a broken store should fail before any page
        except Exception as exc:  # noqa: BLE001 - reported, and the crawl stops
            log.exception("cannot open the document store")
            spider.report.fatal = f"cannot open the document store: {exc}"
            spider.report.ingest = {}
            self._close_monitor()
            self.ingestor = None  # the spider sees report.fatal and requests nothing

    def process_item(self, item: Any) -> Any:
        """Convert and store (or write) one item; count it in the run report."""
        spider = self.spider
        if self.handoff is not None and isinstance(item, (Gone, Document)):
            spider.report.items += isinstance(item, Document)
            return self._hand_off(item)
        if isinstance(item, Gone):
            if self.ingestor is not None:
                try:
                    self.ingestor.add(item)
                except Exception as exc:  # noqa: BLE001 - a failing store must show
                    log.exception("marking a document withdrawn failed")
                    spider.report.error(f"store: {type(exc).__name__}", item.url, str(exc)[:200])
            return item
        if not isinstance(item, Document):
            return item
        doc = item
        spider.report.items += 1
        if self.output is not None:
            self.output.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
        elif self.ingestor is not None:
            try:
                self.ingestor.add(doc)
            except Exception as exc:  # noqa: BLE001 - a failing store must show in the report
                log.exception("storing documents failed")
                spider.report.error(f"store: {type(exc).__name__}", doc.url, str(exc)[:200])
                spider.report.fatal = f"storing documents failed: {exc}"
        elif not spider.dry_run:
            spider.report.skip("store unavailable", doc.url)
        return item

    def _hand_off(self, item: Any) -> Any:
        try:
            self.handoff.add(item)
        except OSError as exc:  # a full or read-only disk: nothing more can be kept
            log.exception("handing documents to the service failed")
            spider = self.spider
            spider.report.error(f"handoff: {type(exc).__name__}", item.url, str(exc)[:200])
            spider.report.fatal = f"handing documents to the service failed: {exc}"
        return item

    def close_spider(self) -> None:
        """Flush the last batch and put the ingest statistics into the report."""
        spider = self.spider
        if self.output is not None:
            self.output.close()
            self.output = None
        if self.handoff is not None:
            try:
                spider.report.handed_off = self.handoff.close()
            except OSError as exc:
                log.exception("handing the last documents to the service failed")
                spider.report.fatal = f"handing documents to the service failed: {exc}"
                spider.report.handed_off = self.handoff.written
        if self.ingestor is not None:
            try:
                spider.report.ingest = self.ingestor.close().to_dict()
            except Exception as exc:  # noqa: BLE001
                log.exception("storing the last batch failed")
                spider.report.fatal = f"storing documents failed: {exc}"
                spider.report.ingest = self.ingestor.stats.to_dict()
        self._close_monitor()

    def _close_monitor(self) -> None:
        if self.monitor is not None:
            try:
                self.monitor.close()
            except Exception:  # noqa: BLE001
                log.exception("closing the monitor failed")
            self.monitor = None
