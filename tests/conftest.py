"""Shared fixtures: configuration directories, the shared data folder, loopback sites."""
from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import SourceConfig
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
