"""``monitor init``: write a working starter configuration directory."""
from __future__ import annotations

from pathlib import Path

from monitor.config import SourceConfig
from monitor.errors import ConfigError

MONITOR_TOML = """\
# Main settings of the public-opinion monitor.  Every key is optional; see docs/configuration.md.

[monitor]
timezone = "Asia/Shanghai"      # how times are shown; everything is stored in UTC
data_dir = "{data_dir}"              # relative to this directory

[store]
backend = "embedded"            # SQLite + full-text index in data_dir/documents.db

[state]
# url = "sqlite:///data/state.db"   # workflow state (crawl runs, later incidents and clocks)

[plugins]
disabled = {disabled}               # e.g. ["sentiment_snownlp"] to skip the slow sentiment model

[plugins.sentiment_snownlp]
max_chars = 200

[crawl]
timeout_seconds = 600
concurrent_requests = 8
download_delay = 0.0
obey_robots = false
"""

EXAMPLE_SOURCE = SourceConfig(
    id="example-portal", name="示例：县政府门户 新闻发布 (edit the url and selectors)",
    spider="news_list", channel="portal", url="https://www.example.gov.cn/xwfb/index.html",
    enabled=False, own=True, max_pages=3,
    selectors={"links": "ul.news-list li a::attr(href)", "title": "h1",
               "published": ".pubtime::text", "content": ".article-content"},
)


def write_config(directory: Path, *, sources: list[SourceConfig] | None = None,
                 disabled: list[str] | None = None, data_dir: str = "data",
                 force: bool = False) -> list[Path]:
    """Write monitor.toml and one file per source into ``directory``; return the files written.

    Refuses to overwrite an existing monitor.toml unless ``force`` is set.
    """
    directory = Path(directory)
    main = directory / "monitor.toml"
    if main.is_dir():
        raise ConfigError("is a directory; remove it first", path=main)
    if main.exists() and not force:
        raise ConfigError("already exists; use --force to overwrite", path=main)
    try:
        (directory / "sources").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the configuration directory: {exc.strerror or exc}",
                          path=directory) from None
    listed = "[" + ", ".join(f'"{name}"' for name in (disabled or [])) + "]"
    main.write_text(MONITOR_TOML.format(data_dir=data_dir, disabled=listed), encoding="utf-8")
    written = [main]
    for source in (EXAMPLE_SOURCE,) if sources is None else sources:
        path = directory / "sources" / f"{source.id}.toml"
        path.write_text(source.to_toml(), encoding="utf-8")
        written.append(path)
    return written
