"""Scrapy extensions: the run report (pages, uncaught errors, written at close), and the watchdog
that stops a crawl whose monitor process is gone."""
from __future__ import annotations

import atexit
import ctypes
import logging
import os
import shutil
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call
from scrapy.utils.defer import deferred_from_coro

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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
        crawler.signals.connect(ext.request_dropped, signal=signals.request_dropped)
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

    def request_dropped(self, request: Any, **kwargs: Any) -> None:
        """The scheduler refused a request (its duplicate filter): the spiders never ask twice
        for a page themselves, so this is a redirect back to a page already requested."""
        report = self._report()
        if report is not None:
            report.skip("page already requested (a redirect loop, or one address twice)", request.url)

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


class ParentWatchdog:
    """Closes the spider ("parent gone") when the monitor process that started the crawl ends.

    ``monitor.crawl`` passes its pid as ``-s MONITOR_PARENT_PID`` (without it, as in a hand-run
    ``scrapy crawl``, the extension is off).  On Linux the kernel sends SIGTERM when the parent
    dies (``PR_SET_PDEATHSIG``), which Scrapy takes as a graceful shutdown; everywhere the
    parent is checked every second.  Either way the pipeline's close flushes the documents
    collected so far.  A crawl that has not ended ``MONITOR_ORPHAN_GRACE`` seconds later is sent
    SIGTERM (a second one is Scrapy's forced shutdown); the parent's work directory
    (``-s MONITOR_WORKDIR``), which nobody will read now, is removed at exit.
    """

    def __init__(self, crawler: Any, parent_pid: int, workdir: str, grace: float):
        self.crawler = crawler
        self.parent_pid = parent_pid
        self.workdir = workdir
        self.grace = grace
        self.direct = os.getppid() == parent_pid  # else started through a wrapper
        self.gone_checks = 0
        self.loop: Any = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> "ParentWatchdog":
        """Enabled by ``MONITOR_PARENT_PID``; connects the signals and asks for PDEATHSIG."""
        parent = crawler.settings.getint("MONITOR_PARENT_PID")
        if parent <= 0:
            raise NotConfigured
        if sys.platform.startswith("linux"):
            # first: a parent dying from now on is signalled, one already gone fails the checks
            _set_pdeathsig(signal.SIGTERM)
        ext = cls(crawler, parent, crawler.settings.get("MONITOR_WORKDIR") or "",
                  crawler.settings.getfloat("MONITOR_ORPHAN_GRACE", 30.0))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        atexit.register(ext.remove_workdir)
        return ext

    def parent_gone(self) -> bool:
        """True once the parent has ended (a direct child is re-parented: its ppid changes)."""
        if self.direct:
            return os.getppid() != self.parent_pid
        try:
            os.kill(self.parent_pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False

    def spider_opened(self, spider: Any) -> None:
        """Check every second (the first check also catches a parent that died during start-up)."""
        self.loop = create_looping_call(self.check)
        self.loop.start(1.0, now=False)

    def check(self) -> None:
        """Close the spider when the parent is gone; insist if it does not close in time."""
        if not self.parent_gone():
            return
        self.gone_checks += 1
        if self.gone_checks == 1:
            log.warning("the monitor process (pid %d) that started this crawl is gone: "
                        "closing the spider", self.parent_pid)
            engine = self.crawler.engine
            if engine is not None and engine.spider is not None:
                closing = deferred_from_coro(engine.close_spider_async(reason="parent gone"))
                closing.addErrback(lambda failure: log.error("closing the spider failed: %s",
                                                             failure.getErrorMessage()))
        elif self.gone_checks in (int(self.grace) + 1, int(self.grace) + 11):
            log.warning("the crawl has not ended %d s after its parent: SIGTERM", self.grace)
            os.kill(os.getpid(), signal.SIGTERM)

    def spider_closed(self, spider: Any, reason: str) -> None:
        """Stop checking."""
        if self.loop is not None and self.loop.running:
            self.loop.stop()

    def remove_workdir(self) -> None:
        """At exit: the parent's work directory for this crawl, if the parent is gone."""
        path = Path(self.workdir) if self.workdir else None
        if path is not None and path.name.startswith("monitor-crawl-") and self.parent_gone():
            shutil.rmtree(path, ignore_errors=True)


def _set_pdeathsig(sig: int) -> None:
    """Ask Linux to send ``sig`` to this process when its parent (thread) ends."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError) as exc:
        log.warning("prctl(PR_SET_PDEATHSIG) unavailable: %s", exc)
