"""Reading TOML configuration files with errors that name the file, the key and the fix."""
from __future__ import annotations

import difflib
import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError


def toml_value(value: Any) -> str:
    """``value`` written as a TOML value (strings escaped, control characters included)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    # a JSON string is a valid TOML basic string, control characters escaped included
    return json.dumps(str(value), ensure_ascii=False)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse one TOML file; syntax or encoding problems become a ConfigError naming the file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None  # read_bytes below says why
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        # reading a named pipe or a device would block (or never end)
        raise ConfigError("not a regular file (a pipe, socket or device); expected a TOML file",
                          path=path)
    try:
        # utf-8-sig: Windows editors often save a byte-order mark that TOML does not allow
        return tomllib.loads(Path(path).read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError("file not found", path=path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory; expected a TOML file", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text; save the file as UTF-8", path=path) from None
    except RecursionError:  # tomllib recurses once per level of [[[...]]] or {a = {a = ...}}
        raise ConfigError("not usable TOML: arrays or tables nested too deeply", path=path
                          ) from None


class Table:
    """Reads typed values from one TOML table and rejects keys it does not know."""

    def __init__(self, data: dict, path: Path, prefix: str = ""):
        if not isinstance(data, dict):
            raise ConfigError("expected a table", path=path, key=prefix or None)
        self.data, self.path, self.prefix = data, path, prefix
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def get(self, key: str, kind: type | tuple, default: Any = None, *, required: bool = False):
        self.used.add(key)
        if key not in self.data:
            if required:
                raise ConfigError("missing; this key is required", path=self.path,
                                  key=self._key(key))
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(TYPE_NAMES.get(k, k.__name__) for k in kinds)
            shown = repr(value)
            shown = shown if len(shown) <= 120 else shown[:120] + "…"
            raise ConfigError(f"expected {names}, got {shown}", path=self.path,
                              key=self._key(key))
        return value

    def table(self, key: str) -> "Table":
        self.used.add(key)
        return Table(self.data.get(key, {}), self.path, self._key(key))

    def reject_unknown(self, allowed: set[str] | None = None):
        allowed = self.used if allowed is None else allowed
        for key in self.data:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else (
                    f"; known keys: {', '.join(sorted(allowed))}")
                raise ConfigError(f"unknown key{hint}", path=self.path, key=self._key(key))


TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list", dict: "a table"}


def non_negative(table: Table, key: str, default: int) -> int:
    value = table.get(key, int, default)
    if value < 0:
        raise ConfigError(f"must be 0 or more, got {value}", path=table.path, key=table._key(key))
    return value


def one_line(table: Table, key: str) -> str:
    """An optional one-line text (default empty), stripped; a line break is a ConfigError."""
    value = table.get(key, str, "")
    if "\n" in value or "\r" in value:
        raise ConfigError("expected one line of text", path=table.path, key=table._key(key))
    return value.strip()
