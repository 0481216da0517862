"""Shared fixtures: configuration directories, the shared data folder, loopback sites."""
from __future__ import annotations

from pathlib import Path

import shutil

import pytest

from monitor.config import SourceConfig
from monitor.localsite import serve_directory
from monitor.starter import write_config

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


@pytest.fixture
def make_config(tmp_path):
    """Write a configuration directory under tmp_path and return its path.

    ``make_config(sources=[SourceConfig...], disabled=[...])``; snownlp is disabled by default
    because it is slow to import and the tests that need it say so.
    """

    def _make(sources: list[SourceConfig] | None = None,
              disabled: list[str] | None = None, name: str = "config") -> Path:
        directory = tmp_path / name
        write_config(directory, sources=sources or [],
                     disabled=["sentiment_snownlp"] if disabled is None else disabled)
        return directory

    return _make


@pytest.fixture
def config_dir(make_config) -> Path:
    """An empty working configuration (no sources, snownlp disabled)."""
    return make_config()


def board_source(base: str, **kwargs) -> SourceConfig:
    """The synthetic GBK message board of tests/fixtures/pages/board (5 letters, two list
    pages, a broken page and a dead link) as a source; ``kwargs`` override its fields."""
    return SourceConfig(
        id=kwargs.pop("id", "board"), spider="message_board", channel="board",
        url=f"{base}/board/list.synthetic.html", max_pages=kwargs.pop("max_pages", 5),
        selectors={"links": "table.list td.title a",
                   "next_page": "//div[@class='pager']/a[text()='下一页']/@href",
                   "title": "h1.letter-title", "question": "div.letter-body", "asker": ".asker",
                   "submitted": ".submitted::text", "number": "xpath://span[@class='no']/text()",
                   "reply": "div.reply-body", "reply_unit": ".reply-unit",
                   "reply_time": ".reply-time", "status": ".status"}, **kwargs)


@pytest.fixture(scope="module")
def board_site(tmp_path_factory):
    """The synthetic GBK board served on loopback without a charset header; its base URL."""
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(FIXTURES / "pages" / "board", root / "board")
    with serve_directory(root, charset=None) as base:
        yield base
