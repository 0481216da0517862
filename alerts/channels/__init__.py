"""Alert channels: what a channel is, what a send returns, and the built-in channel types.

A channel instance is built from its table in ``config/channels.toml`` — ``cls(name, table)``
with a :class:`monitor.tomlfile.Table`; a wrong value is a ``ConfigError`` naming the file and
key — and has one job: :meth:`Channel.send` one :class:`~alerts.message.AlertMessage`, returning
a :class:`DeliveryResult`.  **send never raises for a delivery problem** and returns within its
``timeout``; the outbox decides, from the result, whether to retry, wait or dead-letter.

Channels share nothing: every send opens its own connection, no lock is global, so a channel
that is down or hangs never delays another.  Plugins add channel types with the
``register_channels`` hook (:meth:`monitor.plugins.PluginManager.channels`).
"""
from __future__ import annotations

import difflib
import importlib
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from alerts.message import AlertMessage
from alerts.pacing import Limit, limits_for
from alerts.secrets import Secret, reveal, scrub
from monitor.errors import ConfigError
from monitor.tomlfile import Table

_log = logging.getLogger(__name__)

#: Seconds a send may take, connection and answer included, unless the channel says otherwise.
DEFAULT_TIMEOUT = 10.0

#: Built-in channel types: type name → "module:Class" (imported when first used).
BUILTIN_CHANNELS: dict[str, str] = {
    "log": "alerts.channels.log:LogChannel",
    "email": "alerts.channels.email:EmailChannel",
    "dingtalk": "alerts.channels.dingtalk:DingTalkChannel",
    "wecom": "alerts.channels.wecom:WeComChannel",
    "feishu": "alerts.channels.feishu:FeishuChannel",
    "webhook": "alerts.channels.webhook:WebhookChannel",
}

#: Names people write for the built-in types; only used to suggest the right one.
TYPE_ALIASES = {"dingding": "dingtalk", "ding": "dingtalk", "钉钉": "dingtalk",
                "wechat": "wecom", "weixin": "wecom", "wework": "wecom", "qywx": "wecom",
                "workwechat": "wecom", "企业微信": "wecom", "lark": "feishu", "飞书": "feishu",
                "mail": "email", "smtp": "email", "e-mail": "email", "http": "webhook",
                "https": "webhook", "json": "webhook", "file": "log", "stdout": "log"}


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one send.

    ``ok`` — the receiver accepted it.  ``retryable`` — worth trying again later (connection
    refused, timeout, 5xx, a rate-limit refusal); not retryable means trying again cannot help
    (4xx, bad signature, keyword mismatch, bad address) and the delivery should be dead-lettered
    at once.  ``retry_after`` — seconds the receiver asked us to wait (a rate limit).  ``code`` —
    the robot's own error code when it refused with HTTP 200.
    """

    ok: bool
    retryable: bool
    detail: str
    status: int | None = None
    retry_after: float | None = None
    code: str | None = None

    @classmethod
    def delivered(cls, detail: str = "delivered", status: int | None = None) -> "DeliveryResult":
        """A successful send."""
        return cls(True, False, detail, status)

    @classmethod
    def failed(cls, detail: str, *, retryable: bool, status: int | None = None,
               retry_after: float | None = None, code: object = None) -> "DeliveryResult":
        """A send that did not deliver."""
        return cls(False, retryable, detail, status, retry_after,
                   None if code is None else str(code))


@runtime_checkable
class Channel(Protocol):
    """What the outbox needs from a channel instance."""

    name: str
    type: str
    timeout: float
    limits: tuple[Limit, ...]

    def send(self, message: AlertMessage) -> DeliveryResult:
        """Deliver one notice; never raises for a delivery problem."""

    def describe(self) -> dict[str, Any]:
        """Settings safe to show (no secret values)."""


# -- option helpers (for built-in and plugin channels) ------------------------------------------

def _bad(table: Table, key: str, message: str) -> ConfigError:
    return ConfigError(message, path=table.path, key=table._key(key))


def text(table: Table, key: str, default: str | None = None, *,
         required: bool = False) -> str | None:
    """A string option (a ``${NAME}`` reference is revealed: use :func:`secret` for secrets)."""
    table.used.add(key)
    if key not in table.data:
        if required:
            raise _bad(table, key, "missing; this key is required")
        return default
    value = table.data[key]
    if isinstance(value, Secret):
        value = value.reveal()
    if not isinstance(value, str):
        raise _bad(table, key, f"expected a string, got {type(value).__name__}")
    if required and not value.strip():
        raise _bad(table, key, "must not be empty")
    return value


def secret(table: Table, key: str, *, required: bool = False) -> Secret | None:
    """A secret option: always a ``${NAME}`` reference (the loader refuses literals)."""
    table.used.add(key)
    value = table.data.get(key)
    if value is None:
        if required:
            raise _bad(table, key, f'missing; write {key} = "${{NAME}}" and set NAME in the '
                                   "environment or the secrets file")
        return None
    if isinstance(value, str):  # built from code (tests, plugins), not from a file
        return Secret(value, key)
    if not isinstance(value, Secret):
        raise _bad(table, key, f"expected a string, got {type(value).__name__}")
    return value


def text_list(table: Table, key: str, *, required: bool = False) -> list[str]:
    """A list of strings (one string is taken as a list of one)."""
    table.used.add(key)
    value = reveal(table.data.get(key, []))
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(table, key, "expected a list of strings")
    value = [v.strip() for v in value if v.strip()]
    if required and not value:
        raise _bad(table, key, "missing or empty; give at least one")
    return value


def number(table: Table, key: str, default: float, *, low: float, high: float) -> float:
    """A number within [low, high]."""
    value = table.get(key, float, default)
    if not low <= value <= high:
        raise _bad(table, key, f"must be between {low:g} and {high:g}, got {value:g}")
    return float(value)


def integer(table: Table, key: str, default: int | None, *, low: int, high: int) -> int | None:
    """An integer within [low, high]."""
    value = table.get(key, int, default)
    if value is not None and not low <= value <= high:
        raise _bad(table, key, f"must be between {low} and {high}, got {value}")
    return value


def choice(table: Table, key: str, default: str, options: tuple[str, ...]) -> str:
    """One of ``options``."""
    value = table.get(key, str, default)
    if value not in options:
        close = difflib.get_close_matches(value, options, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _bad(table, key, f"must be one of {', '.join(options)}, got {value!r}{hint}")
    return value


def flag(table: Table, key: str, default: bool) -> bool:
    """true or false."""
    return table.get(key, bool, default)


# -- the base class -------------------------------------------------------------------------------

class BaseChannel:
    """Common settings: ``timeout``, ``max_per_minute``, ``max_per_second``.

    Subclasses set :attr:`type`, the keys that must be secrets (:attr:`secret_keys`), their
    default pacing, and implement :meth:`configure` and :meth:`send`.
    """

    type: ClassVar[str] = ""
    secret_keys: ClassVar[frozenset[str]] = frozenset()
    default_per_minute: ClassVar[int | None] = None
    default_per_second: ClassVar[int | None] = None

    def __init__(self, name: str, table: Table | dict):
        if isinstance(table, dict):
            table = Table(table, None, name)
        self.name = name
        self.path = table.path
        self.timeout = number(table, "timeout", DEFAULT_TIMEOUT, low=0.05, high=300)
        per_minute = integer(table, "max_per_minute", self.default_per_minute, low=0, high=10_000)
        per_second = integer(table, "max_per_second", self.default_per_second, low=0, high=1_000)
        self.limits = limits_for(per_minute, per_second)
        table.used.add("type")
        self.configure(table)

    def configure(self, table: Table) -> None:
        """Read the type's own options from ``table``."""

    def send(self, message: AlertMessage) -> DeliveryResult:  # pragma: no cover - abstract
        """Deliver one notice; never raises for a delivery problem."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """The type's own settings, safe to show (subclasses add to it)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Settings safe to show: no secret value, webhook URLs redacted."""
        return {"name": self.name, "type": self.type, "timeout": self.timeout,
                "limits": [f"{c}/{s:g}s" for c, s in self.limits], **self.settings()}

    def secrets(self) -> list[Secret]:
        """Every secret this instance holds (to scrub them out of any text it reports)."""
        found: list[Secret] = []
        for value in vars(self).values():
            items = value.values() if isinstance(value, dict) else (
                value if isinstance(value, (list, tuple)) else [value])
            found += [v for v in items if isinstance(v, Secret)]
        return found

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.describe()}>"


# -- registry and a guarded send ------------------------------------------------------------------

def builtin_channel_types() -> dict[str, type]:
    """The built-in channel classes by type name."""
    types = {}
    for name, target in BUILTIN_CHANNELS.items():
        module, _, attr = target.partition(":")
        types[name] = getattr(importlib.import_module(module), attr)
    return types


def unknown_type_message(name: str, known: list[str]) -> str:
    """``unknown channel type 'x'; did you mean 'y'?`` with the known types listed."""
    lowered = name.strip().lower()
    guess = TYPE_ALIASES.get(lowered) if TYPE_ALIASES.get(lowered) in known else None
    if guess is None:
        close = difflib.get_close_matches(lowered, known, n=1, cutoff=0.5)
        guess = close[0] if close else None
    hint = f"; did you mean {guess!r}?" if guess else ""
    return f"unknown channel type {name!r}{hint} (known types: {', '.join(sorted(known))})"


def safe_send(channel: Channel, message: AlertMessage) -> DeliveryResult:
    """``channel.send(message)``, with anything it raises turned into a retryable failure.

    Built-in channels never raise; a plugin's might.  Secret values are scrubbed from the detail.
    """
    secrets = channel.secrets() if hasattr(channel, "secrets") else []
    try:
        result = channel.send(message)
    except Exception as exc:  # noqa: BLE001 - a channel bug must not crash the service
        detail = scrub(f"channel {channel.name!r} raised {type(exc).__name__}: {exc}", secrets)
        _log.warning("%s", detail)
        return DeliveryResult.failed(detail, retryable=True)
    if not isinstance(result, DeliveryResult):
        return DeliveryResult.failed(f"channel {channel.name!r} returned "
                                     f"{type(result).__name__}, not a DeliveryResult",
                                     retryable=True)
    return result
