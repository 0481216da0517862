"""Loading ``config/channels.toml``: one table per named channel instance.

```toml
secrets_file = "/etc/monitor/secrets.toml"   # optional; $MONITOR_SECRETS_FILE wins

[office-dingtalk]
type = "dingtalk"
webhook = "https://oapi.dingtalk.com/robot/send?access_token=${DINGTALK_TOKEN}"
secret = "${DINGTALK_SECRET}"

[duty-log]
type = "log"
```

Every problem is a ``ConfigError`` naming the file and the key; one bad channel never stops the
others (its error is kept in :attr:`ChannelSet.errors`, and asking for it by name says why it is
not usable).  Keys that hold secrets must be ``${NAME}`` references: a literal secret in the
file is refused, because this file lives in the repository.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from alerts.channels import Channel, builtin_channel_types, unknown_type_message
from alerts.secrets import Secret, SecretSource, expand, references
from monitor.errors import ConfigError
from monitor.tomlfile import Table, read_toml

CHANNELS_FILE = "channels.toml"

#: Keys every channel table may hold besides its type's own: read by the loader or by the layers
#: above the channels (outbox, noise control).  Those layers add theirs here.
COMMON_KEYS: set[str] = {"type", "enabled", "description", "quiet_hours"}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class ChannelSet:
    """The channel instances of one file, and what was wrong with the others."""

    path: Path
    channels: dict[str, Channel] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    tables: dict[str, dict] = field(default_factory=dict)  # raw tables (references unexpanded)

    def names(self) -> list[str]:
        """Every channel named in the file, usable or not."""
        return list(self.tables)

    def __contains__(self, name: str) -> bool:
        return name in self.channels

    def get(self, name: str) -> Channel:
        """The channel called ``name``; a ConfigError says why it cannot be had."""
        if name in self.channels:
            return self.channels[name]
        if name in self.disabled:
            raise ConfigError(f"channel {name!r} is disabled (enabled = false)", path=self.path,
                              key=name)
        for error in self.errors:
            if error.key == name or (error.key or "").startswith(f"{name}."):
                raise ConfigError(f"channel {name!r} is not usable: {error}", path=self.path,
                                  key=name)
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (
            f"; channels defined: {', '.join(self.names())}" if self.names() else
            "; no channel is defined yet")
        raise ConfigError(f"unknown channel {name!r}{hint}", path=self.path)


def load_channels(where: Path | str, *, types: Mapping[str, type] | None = None,
                  env: Mapping[str, str] | None = None) -> ChannelSet:
    """Every channel in ``where`` (a configuration directory or the channels file itself).

    Never raises for the file's content: problems are collected in ``errors``, so the channels
    that are right still work.  A missing file is an empty set.  ``types`` defaults to the
    built-in channel types (pass ``PluginManager.channels()`` to include plugins' types).
    """
    path = Path(where)
    if path.is_dir():
        path = path / CHANNELS_FILE
    result = ChannelSet(path=path)
    if not path.exists():
        return result
    try:
        data = read_toml(path)
    except ConfigError as exc:
        result.errors.append(exc)
        return result
    types = dict(builtin_channel_types() if types is None else types)
    secrets_file = data.get("secrets_file")
    if secrets_file is not None and not isinstance(secrets_file, str):
        result.errors.append(ConfigError("expected a path string", path=path, key="secrets_file"))
        secrets_file = None
    source = SecretSource(env, secrets_file, config_dir=path.parent)
    for name, raw in data.items():
        if name == "secrets_file":
            continue
        if not isinstance(raw, dict):
            result.errors.append(ConfigError(
                f'expected a table: [{name}] with type = "…" (known types: '
                f"{', '.join(sorted(types))})", path=path, key=name))
            continue
        result.tables[name] = raw
        try:
            if not _NAME.match(name):
                raise ConfigError("a channel name is letters, digits, '-', '_' or '.', "
                                  "at most 64", path=path, key=name)
            if raw.get("enabled", True) is False:
                result.disabled.append(name)
                continue
            result.channels[name] = build_channel(name, raw, path=path, source=source,
                                                  types=types)
        except ConfigError as exc:
            result.errors.append(exc)
        except Exception as exc:  # noqa: BLE001 - a plugin's channel class that breaks
            result.errors.append(ConfigError(f"the {raw.get('type')!r} channel could not be "
                                             f"set up: {type(exc).__name__}: {exc}",
                                             path=path, key=name))
    return result


def build_channel(name: str, raw: dict, *, path: Path | None, source: SecretSource,
                  types: Mapping[str, type]) -> Channel:
    """One channel instance from its raw table (references expanded, literals checked)."""
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f'missing; say which kind of channel this is, e.g. type = "dingtalk" '
                          f"(known types: {', '.join(sorted(types))})", path=path,
                          key=f"{name}.type")
    cls = types.get(kind)
    if cls is None:
        raise ConfigError(unknown_type_message(kind, list(types)), path=path, key=f"{name}.type")
    secret_keys = getattr(cls, "secret_keys", frozenset())
    data: dict[str, Any] = {}
    for key, value in raw.items():
        data[key] = _expand(value, source, path=path, key=f"{name}.{key}")
        if key in secret_keys and not isinstance(data[key], Secret):
            suggested = f"{kind}_{key}".upper().replace("-", "_")
            raise ConfigError(
                f'must not be written into the file: write {key} = "${{{suggested}}}" and set '
                f"{suggested} in the environment or in a secrets file outside the repository",
                path=path, key=f"{name}.{key}")
    quiet = data.get("quiet_hours")
    if quiet is not None:  # "22:00-07:00", read by the outbox in the office's time zone
        from alerts.outbox import QuietHours

        try:
            QuietHours.parse(quiet if isinstance(quiet, str) else repr(quiet))
        except ValueError as exc:
            raise ConfigError(str(exc), path=path, key=f"{name}.quiet_hours") from None
    table = Table(data, path, name)
    channel = cls(name, table)
    table.reject_unknown(table.used | COMMON_KEYS)
    return channel


def _expand(value: Any, source: SecretSource, *, path, key: str) -> Any:
    """Strings with ``${NAME}`` become Secrets (expanded); lists and tables are walked."""
    if isinstance(value, str):
        if "${" not in value:
            return value
        names = references(value)
        expanded = expand(value, source, path=path, key=key)
        if not names:
            return expanded  # only "$${" escapes
        return Secret(expanded, f"{key} from " + ", ".join(f"${{{n}}}" for n in names))
    if isinstance(value, list):
        return [_expand(v, source, path=path, key=key) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, source, path=path, key=f"{key}.{k}") for k, v in value.items()}
    return value
