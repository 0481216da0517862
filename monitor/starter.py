"""``monitor init``: write a working starter configuration directory.

The files are copied from the package folder ``monitor/starter_files/`` — the same files as the
repository's ``config/`` ships (tests/test_starter_files.py keeps the two identical): monitor.toml,
channels.toml, org.toml, maintenance.toml, escalation.toml and rules/*.toml, plus an example
source written from :data:`EXAMPLE_SOURCE`.
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from monitor.config import SourceConfig
from monitor.errors import ConfigError
from monitor.tomlfile import toml_value

#: Files of the starter besides monitor.toml, relative to the configuration directory.
EXTRA_FILES = ("channels.toml", "org.toml", "maintenance.toml", "escalation.toml",
               "playbook.toml")
RULES_DIR = "rules"

EXAMPLE_SOURCE = SourceConfig(
    id="example-portal", name="示例：县政府门户 新闻发布 (edit the url and selectors)",
    spider="news_list", channel="portal", url="https://www.example.gov.cn/xwfb/index.html",
    enabled=False, own=True, max_pages=3,
    selectors={"links": "ul.news-list li a::attr(href)", "title": "h1",
               "published": ".pubtime::text", "content": ".article-content"},
)


def starter_files():
    """The package folder holding the starter templates (an importlib resources Traversable)."""
    return resources.files("monitor") / "starter_files"


def template_names() -> list[str]:
    """Every template's path relative to the configuration directory, monitor.toml first."""
    folder = starter_files()
    rules = sorted(f"{RULES_DIR}/{entry.name}" for entry in (folder / RULES_DIR).iterdir()
                   if entry.name.endswith(".toml") and not entry.name.startswith("."))
    return ["monitor.toml", *EXTRA_FILES, *rules]


def template(name: str) -> str:
    """The text of one starter template (``"monitor.toml"``, ``"rules/new-place.toml"`` …)."""
    return (starter_files() / name).read_text(encoding="utf-8")


def monitor_toml(*, data_dir: str = "data", disabled: list[str] | None = None) -> str:
    """The starter monitor.toml with ``data_dir`` and ``[plugins] disabled`` filled in."""
    text = template("monitor.toml")
    listed = "[" + ", ".join(toml_value(name) for name in (disabled or [])) + "]"
    for key, value in (("data_dir", toml_value(data_dir)), ("disabled", listed)):
        text, found = re.subn(rf'^{key} = [^#\n]*?(?=\s*(#|$))', f"{key} = {value}", text,
                              count=1, flags=re.M)
        if not found:  # pragma: no cover - the template and this function agree (tested)
            raise AssertionError(f"the starter monitor.toml has no {key} line")
    return text


def write_config(directory: Path, *, sources: list[SourceConfig] | None = None,
                 disabled: list[str] | None = None, data_dir: str = "data",
                 force: bool = False, extras: bool | None = None) -> list[Path]:
    """Write monitor.toml and one file per source into ``directory``; return the files written.

    ``extras`` also writes channels.toml, org.toml, maintenance.toml, escalation.toml and
    rules/*.toml; by default it is on when ``sources`` is None, i.e. for the whole starter
    (`monitor init`), and off when a caller brings its own sources.  Refuses to overwrite any existing file unless ``force`` is set.
    """
    directory = Path(directory)
    if extras is None:
        extras = sources is None
    sources = [EXAMPLE_SOURCE] if sources is None else list(sources)
    files: dict[str, str] = {"monitor.toml": monitor_toml(data_dir=data_dir, disabled=disabled)}
    if extras:
        files.update((name, template(name)) for name in template_names()[1:])
    for source in sources:
        files[f"sources/{source.id}.toml"] = source.to_toml()
    targets = {name: directory / name for name in files}
    for path in targets.values():
        if path.is_dir():
            raise ConfigError("is a directory; remove it first", path=path)
    existing = [path for path in targets.values() if path.exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more starter file(s))" if len(existing) > 1 else ""
        raise ConfigError(f"already exists{more}; use --force to overwrite", path=existing[0])
    try:
        for path in targets.values():
            path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the configuration directory: {exc.strerror or exc}",
                          path=directory) from None
    (directory / "sources").mkdir(exist_ok=True)
    written = []
    for name, path in targets.items():
        try:
            path.write_text(files[name], encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write: {exc.strerror or exc}", path=path) from None
        written.append(path)
    return written
