"""Secrets for the alert channels: ``${NAME}`` from the environment or a secrets file.

A robot's signing secret, an SMTP password and a webhook URL that carries an access token are
never written into the repository.  ``config/channels.toml`` names them — ``secret =
"${DINGTALK_SECRET}"`` — and they are looked up in the environment first, then in a secrets file
that lives outside the repository (a flat TOML table ``NAME = "value"``; its path comes from
``$MONITOR_SECRETS_FILE`` or ``secrets_file`` in channels.toml).

A looked-up value is held in a :class:`Secret`, whose ``repr`` and ``str`` show only where it
came from; only :meth:`Secret.reveal` gives the value, at the moment it is sent.  Error messages
name the variable or the key, never the value.
"""
from __future__ import annotations

import hmac
import os
import re
import stat
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from monitor.errors import ConfigError
from monitor.tomlfile import read_toml

SECRETS_FILE_ENV = "MONITOR_SECRETS_FILE"
_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")  # "$${" is a literal "${"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Secret:
    """A value that must not be shown: ``repr``/``str`` give its origin, not the value."""

    __slots__ = ("_value", "origin")

    def __init__(self, value: str, origin: str = "secret"):
        self._value = value
        self.origin = origin

    def reveal(self) -> str:
        """The value itself; call it only where the value is sent."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.origin})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):
        raise TypeError("a Secret is not pickled; keep the ${NAME} reference instead")


def reveal(value: Any) -> Any:
    """``value`` with every :class:`Secret` in it (also inside lists and dicts) revealed."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, list):
        return [reveal(v) for v in value]
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    return value


def references(raw: str) -> list[str]:
    """The names referenced as ``${NAME}`` in ``raw`` (``$${`` is a literal ``${``)."""
    return [m.group(1) for m in _REF.finditer(raw) if m.group(1) is not None]


class SecretSource:
    """Where ``${NAME}`` is looked up: the environment, then the secrets file (if any)."""

    def __init__(self, env: Mapping[str, str] | None = None, file: Path | str | None = None,
                 *, config_dir: Path | None = None):
        self.env = os.environ if env is None else env
        chosen = self.env.get(SECRETS_FILE_ENV) or file
        self.file = Path(chosen).expanduser() if chosen else None
        if self.file is not None and not self.file.is_absolute() and config_dir is not None:
            self.file = (config_dir / self.file)
        self.config_dir = config_dir
        self._values: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._values is None:
            self._values = {} if self.file is None else load_secrets_file(
                self.file, config_dir=self.config_dir)
        return self._values

    def lookup(self, name: str) -> str | None:
        """The value of ``name``, or None when neither the environment nor the file has it."""
        if name in self.env:
            return self.env[name]
        return self._load().get(name)

    def missing_hint(self, name: str) -> str:
        where = (f" or add {name} to the secrets file {self.file}" if self.file else
                 f" (or add it to a secrets file outside the repository named by "
                 f"${SECRETS_FILE_ENV})")
        return f"set the environment variable {name}{where}"


def expand(raw: str, source: SecretSource, *, path=None, key: str | None = None) -> str:
    """``raw`` with each ``${NAME}`` replaced; an unset or empty name is a ConfigError."""
    def one(match: re.Match) -> str:
        name = match.group(1)
        if name is None:
            return "${"
        if not _NAME.match(name):
            raise ConfigError(f"${{{name}}} is not a variable name (letters, digits and _)",
                              path=path, key=key)
        value = source.lookup(name)
        if value is None:
            raise ConfigError(f"${{{name}}} is not set: {source.missing_hint(name)}",
                              path=path, key=key)
        if value == "":
            raise ConfigError(f"${{{name}}} is set but empty", path=path, key=key)
        return value  # taken as it is: a value is never expanded again

    return _REF.sub(one, raw)


def load_secrets_file(file: Path, *, config_dir: Path | None = None) -> dict[str, str]:
    """Read a secrets file: a flat TOML table of strings, outside the repository."""
    check_outside_repository(file, config_dir)
    try:
        mode = file.stat().st_mode
    except FileNotFoundError:
        raise ConfigError("secrets file not found", path=file) from None
    except OSError as exc:
        raise ConfigError(f"cannot read secrets file: {exc.strerror or exc}", path=file) from None
    if stat.S_ISREG(mode) and mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError("secrets file is writable by other users; run chmod 600 on it",
                          path=file)
    data = read_toml(file)
    values: dict[str, str] = {}
    for name, value in data.items():
        if not _NAME.match(name):
            raise ConfigError("not a variable name (letters, digits and _)", path=file, key=name)
        if not isinstance(value, str):
            raise ConfigError("expected a string value", path=file, key=name)
        values[name] = value
    return values


def check_outside_repository(file: Path, config_dir: Path | None = None) -> None:
    """Refuse a secrets file inside the configuration directory or any git work tree."""
    resolved = Path(file).expanduser().resolve()
    if config_dir is not None:
        cfg = Path(config_dir).resolve()
        if resolved == cfg or cfg in resolved.parents:
            raise ConfigError("the secrets file is inside the configuration directory "
                              f"{cfg}; secrets never live with the configuration: move it "
                              "outside (for example /etc/monitor/secrets.toml)", path=file)
    for parent in resolved.parents:
        if (parent / ".git").exists():
            raise ConfigError(f"the secrets file is inside the git repository {parent}; "
                              "secrets never live in a repository: move it outside",
                              path=file)


def redact_url(url: str) -> str:
    """``url`` with query values and the last path segment masked (they carry tokens)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    head, _, last = parts.path.rpartition("/")
    path = f"{head}/***" if last else parts.path
    query = "&".join(f"{k}=***" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def scrub(text: str, secrets: Iterable[Any]) -> str:
    """``text`` with any revealed secret value in it replaced by ``***`` (a last guard)."""
    for secret in secrets:
        if isinstance(secret, Secret) and len(secret.reveal()) >= 4:
            text = text.replace(secret.reveal(), "***")
    return text
