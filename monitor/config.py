"""Reading and checking the configuration directory.

Layout (DATA ONLY)::

    config/monitor.toml          general settings: [monitor] [store] [state] [plugins] [crawl]
    config/sources/<id>.toml     one file per source

Every problem becomes a :class:`ConfigError` naming the file, the key and what is expected.  A
broken source file does not stop the other sources: it is reported by ``load_config`` in
``MonitorConfig.source_errors`` and by ``monitor sources list``.
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.documents import CHANNELS
from monitor.errors import ConfigError
from monitor.store import StoreConfig
from monitor.tomlfile import Table, non_negative, read_toml, toml_value

ENV_CONFIG_DIR = "MONITOR_CONFIG_DIR"
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
class CrawlSettings:
    """The ``[crawl]`` table: how politely and how long crawls run."""

    timeout_seconds: int = 600
    download_delay: float = 0.0
    concurrent_requests: int = 8
    user_agent: str = "gov-opinion-monitor/0.1 (+public-opinion monitoring)"
    obey_robots: bool = False
    python: str = ""  # interpreter used for crawl subprocesses; empty = this one


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
    max_pages: int = 3
    max_items: int = 0  # 0 = no limit
    page_url: str = ""  # list pages 2..max_pages as a template with {page}
    fetch_detail: bool = True  # rss: also fetch each item's page for its full text
    encoding: str = ""  # force a charset when a site lies in both header and <meta>
    place: str = ""  # default place for items of this source
    department: str = ""  # default responsible department
    format: str = "html"  # message_board: "html" pages or a "json" API (dotted-path selectors)
    request_body: str = ""  # json: POST list pages with this body, "{page}" = the page number
    selectors: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    def to_toml(self) -> str:
        """Serialise as a source file (used by ``monitor sources add`` and ``monitor init``)."""
        lines = [f"# Source {self.id}: see docs/sources.md for every key"]
        for key in ("name", "spider", "channel", "url", "enabled", "own", "interval_minutes",
                    "max_pages", "max_items", "page_url", "fetch_detail", "encoding", "place",
                    "department", "format", "request_body"):
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
               "interval_minutes", "max_pages", "max_items", "page_url", "fetch_detail",
               "encoding", "place", "department", "format", "request_body"}

SOURCE_DEFAULTS = {
    "name": "", "enabled": True, "own": False, "interval_minutes": 60, "max_pages": 3,
    "max_items": 0, "page_url": "", "fetch_detail": True, "encoding": "", "place": "",
    "department": "", "format": "html", "request_body": "",
}


@dataclass
class MonitorConfig:
    """Everything read from a configuration directory."""

    config_dir: Path
    timezone: str = "Asia/Shanghai"
    data_dir: Path = Path("data")
    store: StoreConfig = field(default_factory=StoreConfig)
    state_url: str = ""
    plugins_disabled: list[str] = field(default_factory=list)
    plugin_settings: dict[str, dict] = field(default_factory=dict)
    crawl: CrawlSettings = field(default_factory=CrawlSettings)
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    source_errors: list[ConfigError] = field(default_factory=list)

    @property
    def tz(self) -> ZoneInfo:
        """The display time zone."""
        return ZoneInfo(self.timezone)

    def source(self, source_id: str) -> SourceConfig:
        """The source with this id, or a ConfigError that lists the known ones."""
        if source_id in self.sources:
            return self.sources[source_id]
        for err in self.source_errors:
            if err.path and Path(err.path).stem == source_id:
                raise err
        raise ConfigError(f"no source {source_id!r}; known sources: "
                          f"{', '.join(sorted(self.sources)) or 'none'}")

    def plugin_config(self, name: str) -> dict:
        """Settings for one plugin, from ``[plugins.<name>]``."""
        return self.plugin_settings.get(name, {})


def resolve_config_dir(config_dir: str | os.PathLike | None) -> Path:
    """The directory given, else ``$MONITOR_CONFIG_DIR``, else ``./config``."""
    return Path(config_dir or os.environ.get(ENV_CONFIG_DIR) or "config").resolve()


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
        return f"invalid {'XPath' if is_xpath(expr) else 'CSS'} selector {expr!r}: {exc}"
    return None


def json_path_error(path: str) -> str | None:
    """Why a JSON selector (a dotted path such as ``data.result`` or ``list.0.id``) is invalid."""
    if not path.strip():
        return "empty path"
    if not JSON_PATH_RE.match(path.strip()):
        return (f"invalid JSON path {path!r}: expected names or list indexes made of letters, "
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
    if not re.match(r"^https?://", url):
        raise ConfigError(f"expected an http:// or https:// address, got {url!r}",
                          path=path, key="url")
    page_url = t.get("page_url", str, "")
    if page_url and "{page}" not in page_url:
        raise ConfigError("must contain {page} where the page number goes", path=path,
                          key="page_url")
    encoding = t.get("encoding", str, "")
    if encoding:
        import codecs
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ConfigError(f"unknown encoding {encoding!r}", path=path, key="encoding") from None
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
        max_pages=non_negative(t, "max_pages", 3), max_items=non_negative(t, "max_items", 0),
        page_url=page_url, fetch_detail=t.get("fetch_detail", bool, True), encoding=encoding,
        place=t.get("place", str, ""), department=t.get("department", str, ""),
        format=fmt, request_body=request_body, selectors=selectors, path=path,
    )
    t.reject_unknown()
    return source


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


def load_config(config_dir: str | os.PathLike | None = None) -> MonitorConfig:
    """Read ``monitor.toml`` and the sources from ``config_dir`` (see :func:`resolve_config_dir`)."""
    root = resolve_config_dir(config_dir)
    main = root / "monitor.toml"
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} is a file; --config-dir must name a directory")
    if not root.is_dir():
        raise ConfigError(f"configuration directory {root} does not exist; "
                          "create one with `monitor init`")
    if not main.exists():
        raise ConfigError("file not found; create a configuration with `monitor init`", path=main)
    t = Table(read_toml(main), main)

    mon = t.table("monitor")
    tz = mon.get("timezone", str, "Asia/Shanghai")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {tz!r}, expected a name like 'Asia/Shanghai'",
                          path=main, key="monitor.timezone") from None
    data_dir = (root / mon.get("data_dir", str, "data")).resolve()
    mon.reject_unknown()

    st = t.table("store")
    backend = st.get("backend", str, "embedded")
    store_path = st.get("path", str, "")
    options = {k: v for k, v in st.data.items() if k not in ("backend", "path")}
    store = StoreConfig(backend=backend,
                        path=(root / store_path).resolve() if store_path
                        else data_dir / "documents.db",
                        options=options)

    state = t.table("state")
    state_url = state.get("url", str, "") or f"sqlite:///{data_dir / 'state.db'}"
    state.reject_unknown()

    pl = t.table("plugins")
    disabled = pl.get("disabled", list, [])
    if not all(isinstance(x, str) for x in disabled):
        raise ConfigError("expected a list of plugin names", path=main, key="plugins.disabled")
    plugin_settings = {k: v for k, v in pl.data.items() if isinstance(v, dict)}
    for key, value in pl.data.items():
        if key != "disabled" and not isinstance(value, dict):
            raise ConfigError("expected 'disabled = [...]' or a [plugins.<name>] table",
                              path=main, key=f"plugins.{key}")

    cr = t.table("crawl")
    crawl = CrawlSettings(
        timeout_seconds=max(1, non_negative(cr, "timeout_seconds", 600)),
        download_delay=cr.get("download_delay", float, 0.0),
        concurrent_requests=max(1, non_negative(cr, "concurrent_requests", 8)),
        user_agent=cr.get("user_agent", str, CrawlSettings.user_agent),
        obey_robots=cr.get("obey_robots", bool, False),
        python=cr.get("python", str, ""),
    )
    cr.reject_unknown()
    t.reject_unknown({"monitor", "store", "state", "plugins", "crawl"})

    sources, errors = load_sources(root)
    return MonitorConfig(config_dir=root, timezone=tz, data_dir=data_dir, store=store,
                         state_url=state_url, plugins_disabled=list(disabled),
                         plugin_settings=plugin_settings, crawl=crawl, sources=sources,
                         source_errors=errors)
