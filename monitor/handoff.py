"""Crawl → service hand-off: raw documents in a durable inbox, stored by the service alone.

Under ``monitor run`` (``[run] handoff = true``) a crawl subprocess loads neither jieba nor the
analysis plugins and never opens the store: it writes what it collects (documents, and
:class:`~monitor.documents.Gone` markers) to ``<data_dir>/inbox/`` in small files — at most
``batch`` records or ``seconds`` old, fsynced and renamed into place (:class:`monitor.spool.Spool`)
— and the service, the store's only writer, analyses and stores them with the plugins it keeps
loaded (docs/deployment.md says why, with the measurement).

Nothing is lost and nothing is stored twice:

* a record is in the inbox (on disk, whole) before the crawl counts it handed off;
* the service claims a file by renaming it, stores its documents, evaluates the per-document
  rules on them (one transaction with the alerts they raise), and only then deletes it;
* a file claimed by a service that died is claimed again at the next start and stored again:
  ids are deterministic and writes are upserts (the second pass finds them unchanged), and the
  alerts they raise have deterministic ids, so none is told twice.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

from monitor.documents import Document, Gone, parse_record, read_jsonl
from monitor.spool import Spool

log = logging.getLogger(__name__)

INBOX = "inbox"
COUNTS = ".stored.json"  # the counts of a crawl's files, for a crawl the service did not start
_RUN_LABEL = re.compile(r"^run(\d+)-")
_FILE = re.compile(r"^(run\d+-.+?)-\d{15,}-\d+-")


def inbox_dir(data_dir: Path) -> Path:
    """Where crawls leave documents for the service."""
    return Path(data_dir) / INBOX


def run_label(run_id: int | None, source: str) -> str:
    """The file-name label of one crawl run's hand-off files (``run12-county-mailbox``)."""
    return f"run{run_id or 0}-{source}"


def label_run_id(path: Path) -> int | None:
    """The crawl run a hand-off file came from (None when its name does not say)."""
    m = _RUN_LABEL.match(path.name.lstrip("."))
    return int(m.group(1)) or None if m else None


def _file_label(path: Path) -> str | None:
    """The label in a hand-off file's name (``run12-board`` of ``run12-board-<ns>-<pid>-…``)."""
    m = _FILE.match(path.name.lstrip("."))
    return m.group(1) if m else None


def _publish(path: Path, data: dict) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


class ServiceHandoff:
    """``monitor crawl`` while ``monitor run`` holds the lease: hand the documents to the
    running service (the store's only writer, whose rules then see them) and wait for it to
    store them (:meth:`collect` reads the counts it publishes)."""

    def __init__(self, directory: Path, holder):
        self.directory = Path(directory)
        self.holder = holder

    def expect(self, label: str) -> None:
        """Nothing to announce: the service counts files of crawls it did not start apart."""

    def collect(self, label: str, timeout: float = 600.0) -> dict[str, Any]:
        """Wait until the service has stored run ``label``'s files; its counts."""
        deadline = time.monotonic() + timeout
        counts = self.directory / f"{label}{COUNTS}"
        while time.monotonic() < deadline:
            if not any(p.name.startswith(label + "-") for p in self.directory.iterdir()):
                break
            time.sleep(0.2)
        else:
            log.warning("the service (pid %d) has not stored every file of %s yet; it will",
                        self.holder.pid, label)
        try:
            data = json.loads(counts.read_text(encoding="utf-8"))
            counts.unlink(missing_ok=True)
        except (OSError, ValueError):
            data = {}
        data["stored_by"] = f"monitor run (pid {self.holder.pid} on {self.holder.host})"
        return data


def running_service(state_engine, now) -> Any:
    """The live holder of the service lease on this state database, or None."""
    from monitor.lease import Lease

    lease = Lease(state_engine)
    holder = lease.holder()
    if holder is None or lease._gone(holder, now) is not None:
        return None
    return holder


class HandoffWriter:
    """Crawl side: collected records to the inbox, a file every ``batch`` records or
    ``seconds`` (whichever comes first), so that the service can store them while the crawl
    goes on."""

    def __init__(self, directory: Path, label: str, *, batch: int = 50, seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.spool = Spool(Path(directory))
        self.label = label
        self.batch = max(1, batch)
        self.seconds = seconds
        self.clock = clock
        self.written = 0  # records on disk
        self.files = 0
        self._pending: list[Any] = []
        self._since = clock()

    def add(self, record: Document | Gone) -> None:
        """Queue one record; write the file when it is full or old enough."""
        if not self._pending:
            self._since = self.clock()
        self._pending.append(record)
        if len(self._pending) >= self.batch or self.clock() - self._since >= self.seconds:
            self.flush()

    def flush(self) -> None:
        """Write what is queued (nothing when empty)."""
        if not self._pending:
            return
        records, self._pending = self._pending, []
        self.spool.write(records, label=self.label)
        self.written += len(records)
        self.files += 1

    def close(self) -> int:
        """Write the rest; return how many records were handed off."""
        self.flush()
        return self.written


def read_inbox_file(path: Path) -> tuple[list[Document | Gone], int]:
    """The records of one hand-off file and the number of unreadable lines."""
    return read_jsonl(path, parse=parse_record)


class Inbox:
    """Service side: stores what crawls handed off, one file at a time, in one thread.

    ``on_stored(pairs)`` is told each stored batch (the per-document rules) before the file is
    deleted; if it raises, the file is given back and tried again (the documents come back
    unchanged and the rules' hit table keeps them from firing twice).  A run announced with
    :meth:`expect` keeps one Ingestor (one set of counts) until :meth:`collect`.
    """

    POLL = 0.2  # s between looks at an empty inbox

    def __init__(self, monitor, *, on_stored: Callable | None = None,
                 wake: Callable[[], None] | None = None):
        import threading

        self.monitor = monitor
        self.directory = inbox_dir(monitor.config.data_dir)
        self.spool = Spool(self.directory)
        self.on_stored = on_stored
        self.wake = wake
        self.stored_files = 0
        self.failures = 0
        self._runs: dict[str, Any] = {}  # label -> Ingestor of a run being collected
        self._others: dict[str, Any] = {}  # label -> Ingestor of a crawl another process ran
        self._lock = threading.RLock()  # one writer: the loop and collect() take turns
        self._changed = threading.Condition()
        self._sweep_counts()

    def _sweep_counts(self, older_than: float = 86400.0) -> None:
        """Remove published counts no crawl came back for (the crawl was killed)."""
        if not self.directory.is_dir():
            return
        for path in self.directory.glob(f"*{COUNTS}"):
            try:
                if time.time() - path.stat().st_mtime > older_than:
                    path.unlink()
            except OSError:
                pass

    def expect(self, label: str) -> None:
        """A crawl with this label is starting: keep its counts until :meth:`collect`."""
        from monitor.pipeline import Ingestor

        with self._lock:
            self._runs.setdefault(label, Ingestor(self.monitor, on_stored=self.on_stored))

    def run_once(self, only: str | None = None) -> int:
        """Store every file waiting (only those of run ``only`` when given); returns how many
        records were stored."""
        done = 0
        with self._lock:
            for path in self.spool.pending():
                if only is not None and _file_label(path) != only:
                    continue
                done += self._store(path)
        if done:
            with self._changed:
                self._changed.notify_all()
        return done

    def _store(self, path: Path) -> int:
        from monitor.pipeline import Ingestor

        claimed = self.spool.claim(path)
        if claimed is None:
            return 0
        label = _file_label(claimed)
        ingestor = self._runs.get(label) if label else None
        other = label if ingestor is None else None
        if other is not None:
            if other not in self._others:
                while len(self._others) >= 64:  # a crawl that never came back for its counts
                    self._others.pop(next(iter(self._others)))
                self._others[other] = Ingestor(self.monitor, on_stored=self.on_stored)
            ingestor = self._others[other]
        own = ingestor is None
        if own:
            ingestor = Ingestor(self.monitor, on_stored=self.on_stored)
        records, bad = read_inbox_file(claimed)
        try:
            for record in records:
                ingestor.add(record)
            ingestor.flush()
        except Exception:  # noqa: BLE001 - the file stays; nothing is lost
            self.failures += 1
            log.exception("storing hand-off file %s failed; it is tried again", claimed.name)
            self.spool.release(claimed)
            return 0
        if bad:
            ingestor.stats.skipped += bad
            ingestor.stats.skip_reasons["unreadable hand-off line"] += bad
            log.warning("%s: %d unreadable lines skipped", claimed.name, bad)
        if other is not None and self._still_running(claimed):
            # the crawl waiting in `monitor crawl` reads these counts
            _publish(self.directory / f"{other}{COUNTS}", ingestor.stats.to_dict())
        claimed.unlink(missing_ok=True)
        self.stored_files += 1
        if own:
            stats = ingestor.close()
            log.info("stored hand-off file %s: %d new, %d updated, %d unchanged",
                     claimed.name, stats.inserted, stats.updated, stats.unchanged)
        if self.wake is not None:
            self.wake()
        return len(records)

    def _still_running(self, path: Path) -> bool:
        """Whether the crawl run a file came from is still running (someone waits for its
        counts); a run closed as interrupted has nobody to read them."""
        from sqlalchemy import select

        from monitor.state import RUNNING, crawl_runs

        run_id = label_run_id(path)
        if run_id is None:
            return False
        try:
            with self.monitor.state.engine.connect() as c:
                status = c.execute(select(crawl_runs.c.status).where(
                    crawl_runs.c.id == run_id)).scalar()
        except Exception:  # noqa: BLE001 - counts are a courtesy; the documents are stored
            return True
        return status == RUNNING

    def collect(self, label: str, timeout: float = 600.0) -> dict[str, Any]:
        """Store what is left of run ``label`` (waiting up to ``timeout`` for files another
        thread has claimed) and return its ingest counts."""
        deadline = time.monotonic() + timeout
        while True:
            self.run_once(only=label)
            with self._lock:
                left = [p for p in self.spool.pending() if _file_label(p) == label]
                busy = [p for p in self.directory.glob(f"{label}-*") if p not in left] \
                    if self.directory.is_dir() else []
                if not left and not busy:
                    ingestor = self._runs.pop(label, None)
                    return ingestor.close().to_dict() if ingestor is not None else {}
            if time.monotonic() >= deadline:
                log.warning("run %s: hand-off files still waiting after %g s; they are "
                            "stored later", label, timeout)
                with self._lock:
                    ingestor = self._runs.pop(label, None)
                    return ingestor.close().to_dict() if ingestor is not None else {}
            with self._changed:
                self._changed.wait(self.POLL)

    def pending(self) -> int:
        """Hand-off files waiting."""
        return len(self.spool.pending())
