"""Reading and checking the configuration directory.

Layout (DATA ONLY)::

    config/monitor.toml          general settings: [monitor] [store] [state] [plugins] [crawl]
    config/sources/<id>.toml     one file per source

Every problem becomes a :class:`ConfigError` naming the file, the key and what is expected.  A
broken source file does not stop the other sources: it is reported by ``load_config`` in
``MonitorConfig.source_errors`` and by ``monitor sources list``.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.errors import ConfigError
from monitor.store import StoreConfig
from monitor.sourcefile import (  # re-exported: the configuration API in one place
    FORMATS, SELECTOR_KEYS, SOURCE_DEFAULTS, SOURCE_ID_RE, SOURCE_KEYS, SPIDERS, SourceConfig,
    is_xpath, json_path_error, load_sources, parse_source, seconds, selector_error)
from monitor.tomlfile import Table, non_negative, read_toml

ENV_CONFIG_DIR = "MONITOR_CONFIG_DIR"

__all__ = ["ENV_CONFIG_DIR", "FORMATS", "SELECTOR_KEYS", "SOURCE_DEFAULTS", "SOURCE_ID_RE",
           "SOURCE_KEYS", "SPIDERS", "CrawlSettings", "MonitorConfig", "SourceConfig", "is_xpath",
           "json_path_error", "load_config", "load_sources", "parse_source", "read_toml",
           "resolve_config_dir", "selector_error"]
@dataclass
class CrawlSettings:
    """The ``[crawl]`` table: how politely and how long crawls run."""

    timeout_seconds: int = 600
    download_delay: float = 0.0
    download_timeout: float = 30.0  # seconds one request may take (Scrapy's own is 180)
    concurrent_requests: int = 8
    user_agent: str = "gov-opinion-monitor/0.1 (+public-opinion monitoring)"
    obey_robots: bool = False
    python: str = ""  # interpreter used for crawl subprocesses; empty = this one


@dataclass
class RunSettings:
    """The ``[run]`` table: how ``monitor run`` schedules (docs/deployment.md)."""

    max_parallel_crawls: int = 2
    rule_interval_seconds: float = 60.0  # window rules are evaluated this often
    lease_seconds: float = 60.0  # a service that has not renewed its lease for this long is gone
    handoff: bool = True  # crawls hand raw documents to the service, the store's only writer


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
    run: RunSettings = field(default_factory=RunSettings)
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


def _resolve(root: Path, value: str, main: Path, key: str) -> Path:
    """``root / value`` made absolute; a path the system cannot take is a ConfigError."""
    try:
        return (root / value).resolve()
    except (ValueError, OSError) as exc:  # an embedded NUL, a name too long, a symlink loop
        raise ConfigError(f"not a usable path ({exc}): {value[:80]!r}", path=main,
                          key=key) from None


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
    data_dir = _resolve(root, mon.get("data_dir", str, "data"), main, "monitor.data_dir")
    mon.reject_unknown()

    st = t.table("store")
    backend = st.get("backend", str, "embedded")
    store_path = st.get("path", str, "")
    options = {k: v for k, v in st.data.items() if k not in ("backend", "path")}
    store = StoreConfig(backend=backend,
                        path=_resolve(root, store_path, main, "store.path") if store_path
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
    delay = cr.get("download_delay", float, 0.0)
    if not math.isfinite(delay) or delay < 0:
        raise ConfigError(f"expected a number of seconds, 0 or more, got {delay}", path=main,
                          key="crawl.download_delay")
    user_agent = cr.get("user_agent", str, CrawlSettings.user_agent)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in user_agent):
        raise ConfigError("the user agent must be one line without control characters",
                          path=main, key="crawl.user_agent")
    crawl = CrawlSettings(
        timeout_seconds=max(1, non_negative(cr, "timeout_seconds", 600)),
        download_delay=delay,
        download_timeout=seconds(cr, "download_timeout", CrawlSettings.download_timeout),
        concurrent_requests=max(1, non_negative(cr, "concurrent_requests", 8)),
        user_agent=user_agent,
        obey_robots=cr.get("obey_robots", bool, False),
        python=cr.get("python", str, ""),
    )
    cr.reject_unknown()
    run = _run_settings(t.table("run"))
    t.reject_unknown({"monitor", "store", "state", "plugins", "crawl", "run"})

    sources, errors = load_sources(root)
    return MonitorConfig(config_dir=root, timezone=tz, data_dir=data_dir, store=store,
                         state_url=state_url, plugins_disabled=list(disabled),
                         plugin_settings=plugin_settings, crawl=crawl, run=run, sources=sources,
                         source_errors=errors)


def _run_settings(t: Table) -> RunSettings:
    """``[run]`` checked: whole numbers of crawls, positive finite seconds."""
    parallel = t.get("max_parallel_crawls", int, RunSettings.max_parallel_crawls)
    if not 1 <= parallel <= 16:
        raise ConfigError(f"expected 1 to 16 crawls at once, got {parallel}", path=t.path,
                          key=t._key("max_parallel_crawls"))
    interval = seconds(t, "rule_interval_seconds", RunSettings.rule_interval_seconds)
    lease = seconds(t, "lease_seconds", RunSettings.lease_seconds)
    if lease < 10:
        raise ConfigError(f"expected at least 10 seconds, got {lease:g}", path=t.path,
                          key=t._key("lease_seconds"))
    settings = RunSettings(max_parallel_crawls=parallel, rule_interval_seconds=interval,
                           lease_seconds=lease, handoff=t.get("handoff", bool, True))
    t.reject_unknown()
    return settings
