"""`monitor search --place / --department`: the store's place and department filters."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from monitor.app import Monitor
from monitor.cli import cli
from monitor.documents import Document

UTC = timezone.utc


def _doc(n: int, place: str | None, department: str | None) -> Document:
    return Document.new("county-board", "board", f"http://127.0.0.1/board/{n}.html",
                        kind="message", title=f"反映围墙问题 {n}", text="学校围墙开裂",
                        published_at=datetime(2026, 11, 30, n, 0, tzinfo=UTC),
                        crawled_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC), place=place,
                        department=department)


DOCS = [_doc(1, "城关镇", "教育局"), _doc(2, "城关镇", "住建局"), _doc(3, "河口乡", "教育局"),
        _doc(4, None, None)]


@pytest.fixture
def run(config_dir):
    with Monitor.open(config_dir, entry_points=False) as m:
        m.store.put_many(DOCS)
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, ["-c", str(config_dir), "search", "围墙", "--json",
                                             *args])


@pytest.mark.parametrize("args, wanted", [
    ([], [0, 1, 2, 3]),
    (["--place", "城关镇"], [0, 1]),
    (["--place", "城关镇", "--place", "河口乡"], [0, 1, 2]),
    (["--department", "教育局"], [0, 2]),
    (["--place", "城关镇", "--department", "教育局"], [0]),
    (["--place", "新店镇"], []),
])
def test_search_by_place_and_department(run, args, wanted):
    result = run(*args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {h["id"] for h in data["hits"]} == {DOCS[i].id for i in wanted}
    assert data["total"] == len(wanted)
