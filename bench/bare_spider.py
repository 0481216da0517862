"""Baseline for bench_crawl.py: a bare Scrapy spider that only follows links (no items, no
pipeline, no parsing beyond link extraction).  Run with ``scrapy runspider``; start URLs come
from ``-a start=<url>,<url>``, followed paths must start with one of ``-a allow=/a/,/b/``; the
page count is written to ``-a out=<json path>``."""
from __future__ import annotations

import json
import re
import time
from urllib.parse import urlsplit

import scrapy
from scrapy import signals

_XML_LINK = re.compile(rb"<link>\s*([^<\s]+)\s*</link>")


class BareSpider(scrapy.Spider):
    """Follows every same-host link; counts responses."""

    name = "bare"
    custom_settings = {
        "REMOTE_CONTROL_ENABLED": False, "TELNETCONSOLE_ENABLED": False,
        "ROBOTSTXT_OBEY": False, "HTTPCACHE_ENABLED": False, "LOG_LEVEL": "WARNING",
        "CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
        "LOGSTATS_INTERVAL": 0,
    }

    def __init__(self, start: str = "", out: str = "", allow: str = "", **kwargs):
        super().__init__(**kwargs)
        self.start_list = [u for u in start.split(",") if u]
        self.allow = tuple(p for p in allow.split(",") if p) or ("/",)
        self.out = out
        self.pages = 0

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.opened, signal=signals.spider_opened)
        crawler.signals.connect(spider.closed_report, signal=signals.spider_closed)
        return spider

    async def start(self):
        for url in self.start_list:
            yield scrapy.Request(url)

    def parse(self, response):
        self.pages += 1
        host = urlsplit(response.url).netloc
        if isinstance(response, scrapy.http.TextResponse) and b"<rss" not in response.body[:200]:
            hrefs = response.xpath("//a/@href").getall()
        else:
            hrefs = [m.decode() for m in _XML_LINK.findall(response.body)]
        for href in hrefs:
            url = response.urljoin(href)
            parts = urlsplit(url)
            if parts.netloc == host and parts.path.startswith(self.allow):
                yield scrapy.Request(url)

    def opened(self, spider):
        self.began = time.perf_counter()

    def closed_report(self, spider, reason):
        if self.out:
            with open(self.out, "w") as fh:
                json.dump({"pages": self.pages, "reason": reason,
                           "seconds": time.perf_counter() - self.began}, fh)
