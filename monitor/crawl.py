"""Run a source's crawl in a subprocess and record how it went.

The Twisted reactor cannot restart inside one process and a crawl must never take the caller
down, so every crawl is ``python -m scrapy crawl <spider> -a source=<id> ...`` in its own process
(``monitor/`` never imports Scrapy).  The spider writes a JSON run report (see
``spiders/report.py``); this module reads it, decides the status and records the run in the
workflow-state database.

Statuses: ``ok`` (documents collected), ``empty`` (the crawl worked but found nothing),
``failed`` (non-zero exit, timeout, no report, the start URL unreachable, or a fatal problem
such as a store that would not open).

Ctrl-C (or any other exception) while a crawl runs stops the crawler's process group — it runs in
a session of its own, so the terminal's SIGINT never reaches it — and records the run as failed
("interrupted (SIGINT)") before the exception goes on.  SIGTERM and SIGHUP are handled the same
way while crawls run (:func:`stop_on_signals`).  The crawler also watches its parent: on Linux it
asks for SIGTERM when the parent dies (``PR_SET_PDEATHSIG``), and everywhere it checks every second
that the pid given as ``-s MONITOR_PARENT_PID`` is alive (``spiders/extensions.py``); either way
it closes and flushes what it collected.  A run whose monitor died regardless is closed the next
time the state database is opened (:meth:`monitor.state.StateDB.close_stale_runs`).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from monitor.config import MonitorConfig
from monitor.documents import Document, read_jsonl

if TYPE_CHECKING:  # pragma: no cover
    from monitor.app import Monitor

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SETTINGS_MODULE = "spiders.settings"
STATUS_OK, STATUS_EMPTY, STATUS_FAILED = "ok", "empty", "failed"
_LOG_TAIL = 4000
_POLL = 0.5  # seconds between checks of a cancel event while a crawl runs


class CrawlInterrupted(BaseException):
    """A crawl was cancelled because the caller was interrupted (not a crawl problem: like
    KeyboardInterrupt, it is not an ``Exception``); its argument is what the run records."""


class CrawlTerminated(SystemExit):
    """SIGTERM or SIGHUP arrived while crawls ran (see :func:`stop_on_signals`): the crawlers are
    stopped, their runs recorded as interrupted, and the process exits with 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signame = signal.Signals(signum).name


_STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


_DEFERRED = {"depth": 0, "pending": 0}  # main thread only: signal handlers run there


def _terminate(signum: int, _frame: Any) -> None:
    if _DEFERRED["depth"]:
        _DEFERRED["pending"] = signum  # raised when the run has been written
        return
    raise CrawlTerminated(signum)


@contextmanager
def _deferring_signals() -> Iterator[None]:
    """Write a run to the state database without SIGTERM cutting the write short (the run
    would stay "running"); a signal that arrived meanwhile is raised at the end."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _DEFERRED["depth"] += 1
    try:
        yield
    finally:
        _DEFERRED["depth"] -= 1
        pending = _DEFERRED["pending"] if not _DEFERRED["depth"] else 0
        if pending:
            _DEFERRED["pending"] = 0
            raise CrawlTerminated(pending)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP stop the crawls the way Ctrl-C does.

    Only in the main thread, and only signals left at their default action: one ignored (under
    ``nohup``) stays ignored, a caller's own handler stays.  The old handlers come back after.
    """
    installed = {}
    if threading.current_thread() is threading.main_thread():
        for sig in _STOP_SIGNALS:
            if signal.getsignal(sig) == signal.SIG_DFL:
                installed[sig] = signal.signal(sig, _terminate)
    try:
        yield
    finally:
        for sig, previous in installed.items():
            signal.signal(sig, previous)


def _interruption(exc: BaseException) -> str:
    """What an interrupted run records: "interrupted (SIGTERM)" and so on."""
    if isinstance(exc, CrawlTerminated):
        return f"interrupted ({exc.signame})"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (SIGINT)"
    if isinstance(exc, CrawlInterrupted) and exc.args:
        return str(exc.args[0])
    return "interrupted"


class Handoff(Protocol):
    """The service's side of a hand-off (monitor/handoff.py): where crawlers leave documents,
    and the ingest counts of one run's files once they are stored."""

    directory: Path

    def expect(self, label: str) -> None:
        """A crawl whose files carry ``label`` is starting (count them apart)."""

    def collect(self, label: str) -> dict[str, Any]:
        """Wait until the files labelled ``label`` are stored; their IngestStats as a dict."""


@dataclass
class CrawlResult:
    """How one crawl went; ``items`` holds the documents of a dry run."""

    source: str
    status: str  # ok | empty | failed
    report: dict[str, Any] = field(default_factory=dict)
    items: list[Document] = field(default_factory=list)
    message: str = ""
    returncode: int | None = None
    seconds: float = 0.0
    run_id: int | None = None
    dry_run: bool = False
    log_tail: str = ""

    @property
    def ok(self) -> bool:
        """True unless the crawl failed (an empty crawl is not a failure)."""
        return self.status != STATUS_FAILED

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``--json`` output)."""
        return {"source": self.source, "status": self.status, "message": self.message,
                "returncode": self.returncode, "seconds": round(self.seconds, 3),
                "run_id": self.run_id, "dry_run": self.dry_run, "report": self.report,
                "items": [doc.to_dict() for doc in self.items]}


def crawl_command(config: MonitorConfig, source_id: str, workdir: Path, *,
                  dry_run: bool = False, limit: int | None = None,
                  handoff: tuple[Path, str] | None = None) -> list[str]:
    """The subprocess command line for one crawl (report and output files in ``workdir``;
    ``handoff`` = (inbox, label): hand documents to the service instead of storing them)."""
    source = config.source(source_id)
    python = config.crawl.python or sys.executable
    cmd = [python, "-m", "scrapy", "crawl", source.spider,
           "-a", f"source={source.id}", "-a", f"config_dir={config.config_dir}",
           "-a", f"report={workdir / 'report.json'}"]
    if dry_run:
        cmd += ["-a", "dry_run=1", "-a", f"output={workdir / 'items.jsonl'}"]
    if limit:
        cmd += ["-a", f"limit={int(limit)}"]
    if handoff and not dry_run:
        cmd += ["-a", f"handoff={handoff[0]}", "-a", f"handoff_label={handoff[1]}"]
    # the crawler stops by itself when this process is gone, and then removes workdir
    return cmd + ["-s", f"MONITOR_PARENT_PID={os.getpid()}", "-s", f"MONITOR_WORKDIR={workdir}"]


def crawl_env() -> dict[str, str]:
    """The environment of a crawl: Scrapy settings module and this project on PYTHONPATH."""
    env = dict(os.environ)
    env["SCRAPY_SETTINGS_MODULE"] = SETTINGS_MODULE
    paths = [str(PROJECT_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def _run(cmd: list[str], workdir: Path, timeout: float,
         cancel: threading.Event | None = None,
         started: Callable[[int], None] | None = None) -> tuple[int | None, bool]:
    """Run ``cmd`` with its output in workdir/crawl.log; (returncode, timed_out).

    ``started`` is told the crawler's pid.  Whatever interrupts the wait (Ctrl-C, SIGTERM,
    ``cancel`` being set: CrawlInterrupted) stops the crawler's process group before it
    propagates.
    """
    with open(workdir / "crawl.log", "wb") as logfile:
        proc = subprocess.Popen(cmd, cwd=workdir, env=crawl_env(), stdout=logfile,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            if started is not None:
                started(proc.pid)
            return _wait(proc, timeout, cancel), False
        except subprocess.TimeoutExpired:
            pass
        except BaseException:
            _stop(proc)
            raise
        _stop(proc)
        return proc.returncode, True


def _wait(proc: subprocess.Popen, timeout: float, cancel: threading.Event | None) -> int:
    """``proc.wait(timeout)``, looking at ``cancel`` every _POLL seconds when there is one."""
    if cancel is None:
        return proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        if cancel.is_set():
            raise CrawlInterrupted(getattr(cancel, "reason", "interrupted"))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        try:
            return proc.wait(timeout=min(remaining, _POLL))
        except subprocess.TimeoutExpired:
            continue


def _stop(proc: subprocess.Popen) -> None:
    """Stop a crawl that ran too long or was interrupted: SIGTERM to its process group (Scrapy
    closes the spider and the last batch is stored), a second SIGTERM (Scrapy's forced
    shutdown), then SIGKILL — at once if this is interrupted too."""
    try:
        for sig, grace in ((signal.SIGTERM, 5), (signal.SIGTERM, 2), (signal.SIGKILL, 5)):
            _signal_group(proc, sig)
            try:
                proc.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue
    except BaseException:  # a second Ctrl-C while waiting for the crawler: no more grace
        _signal_group(proc, signal.SIGKILL)
        raise


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _read_report(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _tail(path: Path) -> str:
    try:
        data = path.read_bytes()[-_LOG_TAIL:]
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def _last_error(log_tail: str) -> str:
    """The log line that best says why a crawler failed: the last exception line
    ("ValueError: boom") or "Traceback", else the last line mentioning an error, else the last."""
    lines = [ln.strip() for ln in log_tail.splitlines() if ln.strip()]
    for words in (("Error:", "Exception:", "Traceback"), ("Error", "error", "Exception")):
        for line in reversed(lines):
            if any(word in line for word in words):
                return line[-300:]
    return lines[-1][-300:] if lines else "no output"


def _killed(returncode: int) -> str:
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = "unknown"
    return f"the crawler was killed by signal {name} ({-returncode})"


def judge(report: dict[str, Any] | None, returncode: int | None, timed_out: bool,
          timeout: float, start_url: str, log_tail: str = "") -> tuple[str, str]:
    """Status and a one-line message from what the crawl left behind."""
    if timed_out:
        return STATUS_FAILED, f"timed out after {timeout:g} s and was stopped"
    if returncode is not None and returncode < 0:  # no log line says why: the signal does
        return STATUS_FAILED, _killed(returncode)
    if report is None:
        return STATUS_FAILED, (f"the crawler exited with code {returncode} without a report: "
                               f"{_last_error(log_tail)}")
    if returncode:
        return STATUS_FAILED, f"the crawler exited with code {returncode}: {_last_error(log_tail)}"
    if report.get("fatal"):
        return STATUS_FAILED, str(report["fatal"])
    if report.get("finish_reason") in ("shutdown", "parent gone"):  # signalled by someone else
        return STATUS_FAILED, (f"the crawler was stopped before it finished "
                               f"({report['finish_reason']}) after {report.get('items', 0)} items")
    unreachable = report.get("unreachable") or []
    if unreachable and (start_url in unreachable or not report.get("items")):
        kinds = ", ".join(f"{k} ×{v}" for k, v in (report.get("error_kinds") or {}).items())
        if not kinds:  # skipped rather than failed (too many redirects, too large …)
            kinds = ", ".join(f"{k} ×{v}" for k, v in (report.get("skip_reasons") or {}).items())
        return STATUS_FAILED, (f"start URL unreachable: {unreachable[0]}"
                               + (f" ({kinds})" if kinds else ""))
    items = int(report.get("items") or 0)
    parts = [f"{items} item{'s' if items != 1 else ''} from {report.get('pages', 0)} pages"]
    ingest = report.get("ingest")
    if ingest:
        parts.append(f"{ingest.get('inserted', 0)} new, {ingest.get('updated', 0)} updated, "
                     f"{ingest.get('unchanged', 0)} unchanged"
                     + (f" (stored by {ingest['stored_by']})" if ingest.get("stored_by") else ""))
    for key in ("skipped", "errors"):
        if report.get(key):
            parts.append(f"{report[key]} {key}")
    misses = report.get("selector_misses") or {}
    if misses:
        parts.append("selectors that found nothing: "
                     + ", ".join(f"{k} ({v} pages)" for k, v in sorted(misses.items())))
    return (STATUS_OK if items else STATUS_EMPTY), "; ".join(parts)


def run_crawl(config: MonitorConfig, source_id: str, *, dry_run: bool = False,
              limit: int | None = None, timeout: float | None = None,
              monitor: "Monitor | None" = None,
              cancel: threading.Event | None = None,
              handoff: "Handoff | None" = None) -> CrawlResult:
    """Crawl one source in a subprocess; never raises for a crawl problem.

    With ``handoff`` (the service) the crawler hands its documents to the service's inbox and
    the run's ingest counts come from ``handoff.collect(label)`` once the crawler has exited.

    Real crawls store documents (in the subprocess) and are recorded in the state database;
    dry runs open no store and return the documents in ``items``.  Raises ConfigError only for
    an unknown (or broken) source id.  KeyboardInterrupt, SIGTERM and SIGHUP (CrawlTerminated),
    and CrawlInterrupted once ``cancel`` is set, stop the subprocess, record the run as failed
    ("interrupted (SIGTERM)", with what the stopped crawler stored) and propagate.
    """
    with stop_on_signals():
        return _run_crawl(config, source_id, dry_run, limit, timeout, monitor, cancel, handoff)


def _run_crawl(config: MonitorConfig, source_id: str, dry_run: bool, limit: int | None,
               timeout: float | None, monitor: "Monitor | None",
               cancel: threading.Event | None, handoff: "Handoff | None" = None) -> CrawlResult:
    source = config.source(source_id)
    timeout = float(timeout or config.crawl.timeout_seconds)
    state, own_state, run_id = None, False, None
    if not dry_run:
        if monitor is not None:
            state = monitor.state
        else:
            from monitor.state import StateDB

            state, own_state = StateDB(config.state_url), True
    result: CrawlResult | None = None
    recorded, partial = False, None

    def started(pid: int) -> None:
        if state is not None and run_id is not None:
            try:
                state.set_crawler(run_id, pid, str(workdir))
            except Exception:  # noqa: BLE001 - the crawl goes on; only its pid is not recorded
                log.exception("could not record the crawler of %s", source.id)

    if handoff is None and state is not None and config.run.handoff:
        handoff = _service_handoff(config, state)
    try:
        if state is not None:
            with _deferring_signals():
                run_id = state.start_run(source.id, timeout=timeout)
        workdir = Path(tempfile.mkdtemp(prefix=f"monitor-crawl-{source.id}-"))
        began = time.monotonic()
        try:
            result = _crawl(config, source, workdir, dry_run, limit, timeout, cancel, started,
                            None if dry_run else handoff, run_id)
        except Exception as exc:  # noqa: BLE001 - a crawl problem must not take the caller down
            log.exception("crawl of %s could not run", source.id)
            result = CrawlResult(source.id, STATUS_FAILED, {}, [],
                                 f"the crawl could not run: {exc}")
        except BaseException:
            partial = _read_report(workdir / "report.json")  # what the stopped crawler stored
            raise
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        result.seconds, result.run_id, result.dry_run = time.monotonic() - began, run_id, dry_run
        if state is not None and run_id is not None:
            recorded = True  # (a failing finish_run is not retried below)
            with _deferring_signals():
                state.finish_run(run_id, status=result.status, report=result.report,
                                 message=result.message)
    except BaseException as exc:
        if not recorded and state is not None and run_id is not None:
            # interrupted (Ctrl-C, SIGTERM, cancelled): the run must not stay "running" forever
            message = (_interruption(exc) if not isinstance(exc, Exception)
                       else f"the crawl could not run: {exc}")
            log.warning("crawl of %s: %s", source.id, message)
            try:
                with _deferring_signals():
                    state.finish_run(run_id, status=STATUS_FAILED, message=message,
                                     report=partial)
            except Exception:  # noqa: BLE001 - the original exception is what the caller sees
                log.exception("could not record the end of the crawl of %s", source.id)
        raise
    finally:
        if own_state:
            state.close()
    if result.status == STATUS_FAILED:
        log.warning("crawl of %s failed: %s", source.id, result.message)
    return result


def _service_handoff(config: MonitorConfig, state) -> "Handoff | None":
    """A hand-off to the running ``monitor run``, if one holds the lease (its rules must see
    what this crawl collects, and it is the store's only writer)."""
    from datetime import datetime, timezone

    from monitor.handoff import ServiceHandoff, inbox_dir, running_service

    try:
        holder = running_service(state.engine, datetime.now(timezone.utc))
    except Exception:  # noqa: BLE001 - no lease table yet, a busy database: store directly
        return None
    if holder is None:
        return None
    log.info("monitor run (pid %d) is running: handing the documents to it", holder.pid)
    return ServiceHandoff(inbox_dir(config.data_dir), holder)


def _crawl(config: MonitorConfig, source: Any, workdir: Path, dry_run: bool,
           limit: int | None, timeout: float, cancel: threading.Event | None = None,
           started: Callable[[int], None] | None = None, handoff: "Handoff | None" = None,
           run_id: int | None = None) -> CrawlResult:
    """Run the subprocess and read what it left in ``workdir``."""
    from monitor.handoff import run_label

    label = run_label(run_id, source.id)
    if handoff is not None:
        handoff.expect(label)
    cmd = crawl_command(config, source.id, workdir, dry_run=dry_run, limit=limit,
                        handoff=(handoff.directory, label) if handoff else None)
    try:
        returncode, timed_out = _run(cmd, workdir, timeout, cancel, started)
    except OSError as exc:  # the interpreter in [crawl] python does not exist, ...
        returncode, timed_out = None, False
        (workdir / "crawl.log").write_text(f"cannot start the crawler: {exc}")
    log_tail = _tail(workdir / "crawl.log")
    report = _read_report(workdir / "report.json")
    if handoff is not None and report is not None:
        report["ingest"] = handoff.collect(label)  # the service stores what it was handed
    status, message = judge(report, returncode, timed_out, timeout, source.url, log_tail)
    items: list[Document] = []
    if dry_run:
        items, bad = read_jsonl(workdir / "items.jsonl")
        if bad:
            message += f"; {bad} unreadable output lines"
    return CrawlResult(source.id, status, report or {}, items, message, returncode,
                       log_tail=log_tail)


def run_crawls(config: MonitorConfig, source_ids: list[str], *, parallel: int = 1,
               **kwargs: Any) -> list[CrawlResult]:
    """Crawl several sources, one after another (or ``parallel`` at a time, at most 2).

    Results come back in the order of ``source_ids``; unknown ids raise ConfigError before
    any crawl starts.  Ctrl-C, SIGTERM or SIGHUP stops the running crawls (each recorded as
    interrupted) and propagates; the crawls not started yet are not started.
    """
    for source_id in source_ids:
        config.source(source_id)
    workers = max(1, min(int(parallel), 2))
    with stop_on_signals():
        if workers == 1 or len(source_ids) < 2:
            return [run_crawl(config, sid, **kwargs) for sid in source_ids]
        return _parallel(config, source_ids, workers, kwargs)


def _parallel(config: MonitorConfig, source_ids: list[str], workers: int,
              kwargs: dict[str, Any]) -> list[CrawlResult]:
    cancel = threading.Event()

    def one(sid: str) -> CrawlResult:
        if cancel.is_set():
            raise CrawlInterrupted("not started: the crawls were cancelled")
        return run_crawl(config, sid, cancel=cancel, **kwargs)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crawl")
    try:
        return list(pool.map(one, source_ids))
    except BaseException as exc:
        if not isinstance(exc, Exception):
            # Ctrl-C or SIGTERM lands in this (main) thread: the workers notice the event, stop
            # their crawlers and record their runs; wait for that, then let it go on
            cancel.reason = _interruption(exc)  # type: ignore[attr-defined]
            cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=cancel.is_set())
