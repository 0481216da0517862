"""Scrapy settings for the monitor's crawls.

Per-source politeness (robots.txt, user agent, delay, concurrency) comes from the configuration
directory and is applied by the spider in ``from_crawler`` (see spiders/generic/base.py), so a
hand-run ``scrapy crawl`` behaves like one started by ``monitor crawl``.
"""

BOT_NAME = "gov-opinion-monitor"
SPIDER_MODULES = ["spiders.generic"]
NEWSPIDER_MODULE = "spiders.generic"

# Scrapy 2.19 starts a code-executing HTTP control server and writes job files under
# ~/.local/state unless this is off; the telnet console is another open port.
REMOTE_CONTROL_ENABLED = False
TELNETCONSOLE_ENABLED = False

ROBOTSTXT_OBEY = False  # overridden from [crawl] obey_robots
USER_AGENT = "gov-opinion-monitor/0.1 (+public-opinion monitoring)"
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8  # overridden from [crawl] concurrent_requests
DOWNLOAD_DELAY = 0.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
REDIRECT_MAX_TIMES = 10
COOKIES_ENABLED = True

HTTPCACHE_ENABLED = False
JOBDIR = None
LOG_LEVEL = "INFO"
LOGSTATS_INTERVAL = 0  # no "Crawled N pages" lines every minute
FEED_EXPORT_ENCODING = "utf-8"

DOWNLOADER_MIDDLEWARES = {
    # runs after HttpCompression (590) has unpacked the body, before redirects/retries see it
    "spiders.middlewares.CharsetMiddleware": 580,
}
ITEM_PIPELINES = {
    "spiders.pipelines.MonitorPipeline": 300,
}
EXTENSIONS = {
    "spiders.extensions.RunReportExtension": 100,
    "spiders.extensions.ParentWatchdog": 110,
}
# Set by monitor.crawl (-s MONITOR_PARENT_PID=...): the crawl stops when that process is gone.
MONITOR_PARENT_PID = 0
MONITOR_WORKDIR = ""  # the parent's work directory, removed at exit when the parent is gone
MONITOR_ORPHAN_GRACE = 30.0  # s a crawl gets to close after its parent died, then SIGTERM
