"""The log channel: a notice as a log line, and optionally one JSON line in a file.

Useful on a machine without robots, as a record next to the others, and in tests.  The log line
goes to the ``monitor.alerts`` logger at a level that follows the severity (提示 → INFO, 警告 →
WARNING, 严重 → CRITICAL) unless ``level`` fixes one.  With ``file``, each notice is appended as
one JSON line (``{"notice_id", "message", "text"}``) and flushed before send returns.

```toml
[duty-log]
type = "log"
file = "/var/log/monitor/alerts.jsonl"   # optional; relative paths are beside channels.toml
level = "auto"                           # or debug / info / warning / error / critical
```
"""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from alerts import format as fmt
from alerts.channels import BaseChannel, DeliveryResult, choice, text
from alerts.message import AlertMessage
from monitor.tomlfile import Table

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR, "critical": logging.CRITICAL}
BY_SEVERITY = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}

logger = logging.getLogger("monitor.alerts")


class LogChannel(BaseChannel):
    """Writes notices to the log (and a JSON Lines file)."""

    type = "log"

    def configure(self, table: Table) -> None:
        self.level = choice(table, "level", "auto", ("auto", *LEVELS))
        file = text(table, "file")
        self.file: Path | None = None
        if file:
            path = Path(file).expanduser()
            if not path.is_absolute() and table.path is not None:
                path = Path(table.path).parent / path
            self.file = path
        self._lock = threading.Lock()  # this instance's file only

    def send(self, message: AlertMessage) -> DeliveryResult:
        """Log the notice; append it to the file if one is set."""
        try:
            rendered = fmt.to_text(fmt.build(message))
        except Exception as exc:  # noqa: BLE001
            return DeliveryResult.failed(f"cannot render the notice: {type(exc).__name__}: "
                                         f"{exc}", retryable=False)
        level = BY_SEVERITY[message.severity] if self.level == "auto" else LEVELS[self.level]
        logger.log(level, "[%s] %s", self.name, rendered.replace("\n", " | "))
        if self.file is None:
            return DeliveryResult.delivered("logged")
        line = json.dumps({"notice_id": message.notice_id, "channel": self.name,
                           "message": message.to_dict(), "text": rendered},
                          ensure_ascii=False) + "\n"
        try:
            with self._lock:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                with open(self.file, "a", encoding="utf-8") as handle:
                    handle.write(line)
                    handle.flush()
                    os.fsync(handle.fileno())
        except OSError as exc:
            return DeliveryResult.failed(f"cannot write {self.file}: {exc.strerror or exc}",
                                         retryable=True)
        return DeliveryResult.delivered(f"logged and written to {self.file}")

    def settings(self) -> dict[str, Any]:
        return {"level": self.level, "file": str(self.file) if self.file else None}
