"""The spool: batches that could not be written to the store yet, kept on disk until they are.

A batch the store refused because another writer kept its lock too long (``StoreBusy``) is
written here as JSON lines (analysed, ranked: ready to store) and counted; the next ingest that
finds the store free writes it and removes the file.  Files are written under a temporary name
and renamed, so a reader never sees half a batch; a replayer claims a file by renaming it, so
two processes do not both work on one (and if they did, nothing would be stored twice: ids are
deterministic and writes are upserts).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Iterable

from monitor.documents import Document, read_jsonl

log = logging.getLogger(__name__)

_SUFFIX = ".jsonl"
_CLAIMED = ".claimed-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    """One folder of pending batches (``<data_dir>/spool``)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def write(self, documents: Iterable[Document], label: str = "batch") -> Path:
        """Keep ``documents`` for later; return the file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = f"{label}-{time.time_ns()}-{os.getpid()}-{socket.gethostname()}"
        tmp = self.directory / f".{stem}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            for doc in documents:
                fh.write(json.dumps(doc.to_dict(), ensure_ascii=False, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        final = self.directory / f"{stem}{_SUFFIX}"
        os.replace(tmp, final)
        return final

    def pending(self) -> list[Path]:
        """Files waiting to be written (also those claimed by a process that has died)."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.iterdir()):
            if path.name.endswith(_SUFFIX):
                found.append(path)
            elif _CLAIMED in path.name:
                pid = path.name.rsplit(_CLAIMED, 1)[1]
                if pid.isdigit() and not _alive(int(pid)):
                    found.append(path)
        return found

    def claim(self, path: Path) -> Path | None:
        """Take ``path`` for this process (None when another process took it first)."""
        base = path.name.split(_CLAIMED)[0]
        claimed = path.with_name(f"{base}{_CLAIMED}{os.getpid()}")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return None
        return claimed

    @staticmethod
    def read(path: Path) -> tuple[list[Document], int]:
        """The documents of a spool file and the number of unreadable lines."""
        return read_jsonl(path)

    def release(self, claimed: Path) -> None:
        """Give a claimed file back (it could not be written now)."""
        base = claimed.name.split(_CLAIMED)[0]
        try:
            os.rename(claimed, claimed.with_name(base))
        except OSError:
            log.warning("could not give back spool file %s", claimed)
