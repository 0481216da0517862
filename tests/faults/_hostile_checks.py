"""Run the in-process hostile inputs (source files, ``monitor.toml``, documents, queries) and
say what became of each; shared by the tests and ``bench/bench_faults.py``."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostile_local import DocCase, FileCase, main_files
from monitor.config import MonitorConfig, load_config
from monitor.documents import Document
from monitor.errors import ConfigError, MonitorError
from monitor.store import SearchQuery, SearchResult

#: Words of an FTS5 error: a refusal that says one of these let user input reach FTS5.
FTS5_ERRORS = ("fts5", "syntax error", "malformed MATCH", "no such column", "unterminated")


def write_source_files(sources: Path, cases: list[FileCase]) -> None:
    """Write every case under ``sources`` (directories, symlink loops, named pipes included)."""
    for case in cases:
        path = sources / case.name
        if case.special == "dir":
            path.mkdir()
        elif case.special == "loop":
            os.symlink(path, path)
        elif case.special == "dangling":
            os.symlink(sources / "nowhere.toml.target", path)
        elif case.special == "fifo":
            os.mkfifo(path)
        else:
            path.write_bytes(case.data)


def load_source_files(root: Path, cases: list[FileCase]) -> MonitorConfig:
    """A configuration directory at ``root`` holding every case, read by ``load_config``."""
    (root / "sources").mkdir(parents=True)
    (root / "monitor.toml").write_text("[monitor]\ntimezone = \"Asia/Shanghai\"\n",
                                       encoding="utf-8")
    write_source_files(root / "sources", cases)
    return load_config(root)


def source_fates(cases: list[FileCase], config: MonitorConfig) -> dict[str, tuple[str, str]]:
    """File name → ("accept", "") | ("reject", message) | ("missing", "")."""
    errors = {Path(e.path).name: str(e) for e in config.source_errors if e.path}
    accepted = {Path(s.path).name for s in config.sources.values()}
    return {c.name: ("accept", "") if c.name in accepted else
            ("reject", errors[c.name]) if c.name in errors else ("missing", "")
            for c in cases}


def main_file_fate(root: Path, text: str) -> tuple[str, str]:
    """("accept", "") or ("reject", message) for one ``monitor.toml``; other errors raise."""
    (root / "sources").mkdir(parents=True)
    (root / "monitor.toml").write_text(text, encoding="utf-8")
    try:
        load_config(root)
    except ConfigError as exc:
        return "reject", str(exc)
    return "accept", ""


def main_file_fates(tmp: Path) -> list[tuple[str, str, str, str]]:
    """(kind, expect, fate, message) for every ``monitor.toml`` variant."""
    out = []
    for i, (kind, text, expect) in enumerate(main_files()):
        fate, message = main_file_fate(tmp / f"main{i:02d}", text)
        out.append((kind, expect, fate, message))
    return out


def document(i: int, case: DocCase) -> Document:
    """The Document for one hostile document case."""
    return Document.new("hostile-docs", "news", f"http://127.0.0.1/doc/{i}", **dict(case.fields))


def ingest_documents(monitor: Any, cases: list[DocCase], batch_size: int = 25,
                     first: int = 0) -> tuple[list[tuple[DocCase, Document]], Any]:
    """Ingest the cases as a crawl does (in batches); return the pairs and the IngestStats.
    Documents are numbered from ``first`` (their URLs, hence their ids)."""
    from monitor.pipeline import Ingestor

    pairs = [(case, document(first + i, case)) for i, case in enumerate(cases)]
    logging.getLogger("monitor.pipeline").setLevel(logging.ERROR)
    with Ingestor(monitor, batch_size=batch_size) as ingestor:
        for _, doc in pairs:
            ingestor.add(doc)
    return pairs, ingestor.stats


@dataclass
class SearchOutcome:
    """One search: what was asked, how long it took, and what came back."""

    kind: str
    text: str
    seconds: float
    result: SearchResult | None = None
    refusal: str = ""  # a MonitorError's message
    crash: str = ""  # any other exception

    @property
    def answered(self) -> bool:
        """True for a result (possibly empty, possibly partial with a note)."""
        return self.result is not None


def search(store: Any, kind: str, text: str, **filters: Any) -> SearchOutcome:
    """Run one search and time it; never raises."""
    began = time.perf_counter()
    try:
        result = store.search(SearchQuery(text=text, **{"limit": 10, **filters}))
        return SearchOutcome(kind, text, time.perf_counter() - began, result=result)
    except MonitorError as exc:
        return SearchOutcome(kind, text, time.perf_counter() - began, refusal=str(exc))
    except Exception as exc:  # noqa: BLE001 - a crash is what this looks for
        return SearchOutcome(kind, text, time.perf_counter() - began,
                             crash=f"{type(exc).__name__}: {exc}"[:200])
