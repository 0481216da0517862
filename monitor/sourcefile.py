"""Source files: one ``config/sources/<id>.toml`` per place the monitor collects from.

Checked when read: unknown keys ("did you mean …?"), types, spiders, channels, addresses,
encodings and selectors (compiled here, not mid-crawl) all become a ConfigError naming the file
and the key.
"""
from __future__ import annotations

import codecs
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from monitor.documents import CHANNELS
from monitor.errors import ConfigError
from monitor.tomlfile import Table, non_negative, read_toml, toml_value

SPIDERS = ("rss", "news_list", "message_board")
SOURCE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FORMATS = ("html", "json")
JSON_PATH_RE = re.compile(r"^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*$")
#: message_board selectors that only one format uses.
JSON_ONLY_SELECTORS = {"items", "link"}
HTML_ONLY_SELECTORS = {"links", "next_page"}

#: Selector names each generic spider understands (all optional; see docs/sources.md).
SELECTOR_KEYS = {
    "rss": {"content"},
    "news_list": {"links", "next_page", "title", "published", "content", "author", "place"},
    "message_board": {
        "links", "next_page", "title", "question", "asker", "submitted", "unit", "number",
        "reply", "reply_unit", "reply_time", "status", "place", "items", "link",
    },
}


@dataclass
class SourceConfig:
    """One source file under ``config/sources/``."""

    id: str
    spider: str
    channel: str
    url: str
    name: str = ""
    enabled: bool = True
    own: bool = False
    interval_minutes: int = 60
    cron: str = ""  # "*/10 7-23 * * *" in the office time zone; wins over interval_minutes
    max_pages: int = 3
    max_items: int = 0  # 0 = no limit
    page_url: str = ""  # list pages 2..max_pages as a template with {page}
    fetch_detail: bool = True  # rss: also fetch each item's page for its full text
    encoding: str = ""  # force a charset when a site lies in both header and <meta>
    place: str = ""  # default place for items of this source
    department: str = ""  # default responsible department
    format: str = "html"  # message_board: "html" pages or a "json" API (dotted-path selectors)
    request_body: str = ""  # json: POST list pages with this body, "{page}" = the page number
    download_timeout: float | None = None  # seconds per request; None = [crawl] download_timeout
    selectors: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    def to_toml(self) -> str:
        """Serialise as a source file (used by ``monitor sources add`` and ``monitor init``)."""
        lines = [f"# Source {self.id}: see docs/sources.md for every key"]
        for key in ("name", "spider", "channel", "url", "enabled", "own", "interval_minutes",
                    "cron", "max_pages", "max_items", "page_url", "fetch_detail", "encoding", "place",
                    "department", "format", "request_body", "download_timeout"):
            value = getattr(self, key)
            default = SOURCE_DEFAULTS.get(key)
            if key in ("name", "spider", "channel", "url") or value != default:
                lines.append(f"{key} = {toml_value(value)}")
        if self.selectors:
            lines.append("")
            lines.append("[selectors]")
            for key, value in self.selectors.items():
                lines.append(f"{key} = {toml_value(value)}")
        return "\n".join(lines) + "\n"


SOURCE_KEYS = {"id", "spider", "channel", "url", "selectors", "name", "enabled", "own",
               "interval_minutes", "cron", "max_pages", "max_items", "page_url", "fetch_detail",
               "encoding", "place", "department", "format", "request_body",
               "download_timeout"}

SOURCE_DEFAULTS = {
    "name": "", "enabled": True, "own": False, "interval_minutes": 60, "cron": "", "max_pages": 3,
    "max_items": 0, "page_url": "", "fetch_detail": True, "encoding": "", "place": "",
    "department": "", "format": "html", "request_body": "", "download_timeout": None,
}


def seconds(table: Table, key: str, default: float | None) -> float | None:
    """A number of seconds, more than 0 and finite (``inf``, ``nan`` and 0 are refused)."""
    value = table.get(key, float, default)
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(f"expected a number of seconds more than 0, got {value}",
                          path=table.path, key=table._key(key))
    return value


def is_xpath(expr: str) -> bool:
    """True when a selector is XPath (starts with ``/``, ``(``, ``./`` or ``xpath:``), else CSS."""
    return expr.strip().startswith(("/", "(", "xpath:", "./"))


def selector_error(expr: str) -> str | None:
    """Why a selector cannot be compiled, or None; checked when the file is read, not mid-crawl."""
    try:
        from parsel import Selector  # a Scrapy dependency that does not start a crawler
    except ImportError:  # pragma: no cover - parsel comes with scrapy
        return None
    probe = Selector(text="<html><body></body></html>")
    expr = expr.strip()
    if not expr:
        return "empty selector"
    try:
        if is_xpath(expr):
            probe.xpath(expr.removeprefix("xpath:").strip())
        else:
            probe.css(expr)
    except Exception as exc:  # noqa: BLE001 - lxml and cssselect raise their own types
        shown = repr(expr) if len(expr) <= 120 else repr(expr[:120]) + f"… ({len(expr)} chars)"
        return f"invalid {'XPath' if is_xpath(expr) else 'CSS'} selector {shown}: " \
               f"{str(exc)[:200]}"
    return None


def url_error(url: str) -> str | None:
    """Why ``url`` cannot be crawled (not http/https, no host, a bad port, control characters
    or spaces in the host), or None."""
    if not re.match(r"^https?://", url):
        return f"expected an http:// or https:// address, got {url[:200]!r}"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return f"the address contains control characters: {url[:200]!r}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        return f"not a usable address ({exc}): {url[:200]!r}"
    if not parts.hostname or any(ch.isspace() for ch in parts.hostname):
        return f"the address has no usable host name: {url[:200]!r}"
    return None


#: Codecs Python knows that no web page is written in (text transforms, not charsets).
_NOT_CHARSETS = {"idna", "punycode", "unicode_escape", "raw_unicode_escape", "utf_7",
                 "undefined", "mbcs", "oem"}


def encoding_error(encoding: str) -> str | None:
    """Why ``encoding`` cannot be used to read pages (unknown, or a codec such as ``rot13``,
    ``zlib`` or ``base64`` that is not a text encoding), or None."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return f"unknown encoding {encoding!r}, expected a charset such as 'gbk' or 'utf-8'"
    try:
        b"aa\0\0".decode(encoding)  # non-text codecs (rot13, zlib, hex…) refuse bytes.decode
    except (LookupError, UnicodeError):
        name = "undefined"
    if name.replace("-", "_") in _NOT_CHARSETS:
        return f"the codec {encoding!r} cannot read web pages; expected a charset such as 'gbk'"
    return None


def json_path_error(path: str) -> str | None:
    """Why a JSON selector (a dotted path such as ``data.result`` or ``list.0.id``) is invalid."""
    if not path.strip():
        return "empty path"
    if not JSON_PATH_RE.match(path.strip()):
        return (f"invalid JSON path {path[:120]!r}: expected names or list indexes made of "
                "letters, "
                "digits and '_', separated by dots (e.g. 'data.result' or 'reply.text')")
    return None


def parse_source(data: dict, path: Path) -> SourceConfig:
    """Check one source file's content and build its SourceConfig."""
    t = Table(data, path)
    t.reject_unknown(SOURCE_KEYS)  # a misspelt key says "did you mean", not "missing"
    source_id = t.get("id", str, path.stem)
    if not SOURCE_ID_RE.match(source_id):
        raise ConfigError("source ids use lower-case letters, digits, '-' and '_' "
                          f"(got {source_id!r}); rename the file", path=path, key="id")
    spider = t.get("spider", str, required=True)
    if spider not in SPIDERS:
        close = difflib.get_close_matches(spider, SPIDERS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown spider {spider!r}, expected one of {', '.join(SPIDERS)}{hint}",
                          path=path, key="spider")
    channel = t.get("channel", str, required=True)
    if channel not in CHANNELS:
        raise ConfigError(f"unknown channel {channel!r}, expected one of {', '.join(CHANNELS)}",
                          path=path, key="channel")
    url = t.get("url", str, required=True)
    problem = url_error(url)
    if problem:
        raise ConfigError(problem, path=path, key="url")
    page_url = t.get("page_url", str, "")
    if page_url and "{page}" not in page_url:
        raise ConfigError("must contain {page} where the page number goes", path=path,
                          key="page_url")
    problem = url_error(page_url.replace("{page}", "2")) if page_url else None
    if problem:
        raise ConfigError(problem, path=path, key="page_url")
    encoding = t.get("encoding", str, "")
    problem = encoding_error(encoding) if encoding else None
    if problem:
        raise ConfigError(problem, path=path, key="encoding")
    fmt = t.get("format", str, "html")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}, expected one of {', '.join(FORMATS)}",
                          path=path, key="format")
    if fmt == "json" and spider != "message_board":
        raise ConfigError("format = \"json\" is only for the message_board spider", path=path,
                          key="format")
    request_body = t.get("request_body", str, "")
    if request_body and fmt != "json":
        raise ConfigError("request_body needs format = \"json\"", path=path, key="request_body")
    sel = t.table("selectors")
    selectors = {}
    for key in sel.data:
        selectors[key] = sel.get(key, str)
        problem = (json_path_error(selectors[key]) if fmt == "json"
                   else selector_error(selectors[key]))
        if problem:
            raise ConfigError(problem, path=path, key=f"selectors.{key}")
    sel.reject_unknown(SELECTOR_KEYS[spider])
    if spider == "message_board":
        wrong = HTML_ONLY_SELECTORS if fmt == "json" else JSON_ONLY_SELECTORS
        for key in sorted(wrong & set(selectors)):
            raise ConfigError(f"not used with format = {fmt!r}; "
                              + ("use 'items' and 'link'" if fmt == "json"
                                 else "'items' and 'link' are for format = \"json\""),
                              path=path, key=f"selectors.{key}")
        if fmt == "json" and not selectors.get("items"):
            raise ConfigError("format = \"json\" needs an 'items' selector: the path to the list "
                              "of records, e.g. items = \"data.result\"", path=path,
                              key="selectors.items")
    source = SourceConfig(
        id=source_id, spider=spider, channel=channel, url=url,
        name=t.get("name", str, ""), enabled=t.get("enabled", bool, True),
        own=t.get("own", bool, False),
        interval_minutes=max(1, non_negative(t, "interval_minutes", 60)),
        cron=_cron(t),
        max_pages=non_negative(t, "max_pages", 3), max_items=non_negative(t, "max_items", 0),
        page_url=page_url, fetch_detail=t.get("fetch_detail", bool, True), encoding=encoding,
        place=t.get("place", str, ""), department=t.get("department", str, ""),
        format=fmt, request_body=request_body,
        download_timeout=seconds(t, "download_timeout", None), selectors=selectors, path=path,
    )
    t.reject_unknown()
    return source


def cron_error(expr: str) -> str | None:
    """Why a five-field crontab line cannot be used, or None."""
    from apscheduler.triggers.cron import CronTrigger

    if len(expr.split()) != 5:
        return (f"expected five crontab fields (minute hour day month weekday), "
                f"e.g. \"*/10 7-23 * * *\", got {expr!r}")
    try:
        CronTrigger.from_crontab(expr, timezone="UTC")
    except ValueError as exc:
        return f"invalid crontab line {expr!r}: {exc}"
    return None


def _cron(t: Table) -> str:
    expr = t.get("cron", str, "").strip()
    if not expr:
        return ""
    if "interval_minutes" in t.data:
        raise ConfigError("give either cron or interval_minutes, not both", path=t.path,
                          key="cron")
    problem = cron_error(expr)
    if problem:
        raise ConfigError(problem, path=t.path, key="cron")
    return expr


def load_sources(config_dir: Path) -> tuple[dict[str, SourceConfig], list[ConfigError]]:
    """Read every ``sources/*.toml``; return the good sources and one error per bad file."""
    sources: dict[str, SourceConfig] = {}
    errors: list[ConfigError] = []
    for path in sorted((config_dir / "sources").glob("*.toml")):
        try:
            source = parse_source(read_toml(path), path)
            if source.id in sources:
                raise ConfigError(f"source id {source.id!r} is also used by "
                                  f"{sources[source.id].path}", path=path, key="id")
            sources[source.id] = source
        except ConfigError as exc:
            errors.append(exc)
    return sources, errors
