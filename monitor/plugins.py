"""The plugin manager: built-in and third-party plugins, registered the same way.

Built-in plugins are listed in :data:`DEFAULT_PLUGINS`; third-party ones come from the
``monitor`` entry-point group.  ``[plugins] disabled = [...]`` in monitor.toml blocks any of them.

Analysis hooks are called one implementation at a time, so a plugin that raises costs only its
own result: the failure is logged with the document id and counted, and the document goes on.
"""
from __future__ import annotations

import importlib
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import pluggy

from monitor import hookspecs
from monitor.errors import ConfigError, PluginError
from monitor.risk import RiskAssessment

log = logging.getLogger(__name__)

#: Built-in plugins: short name → module.  Each is an ordinary pluggy plugin module.
DEFAULT_PLUGINS: dict[str, str] = {
    "store_embedded": "monitor.store.builtin",
    "sentiment_snownlp": "plugins.sentiment_snownlp",
    "topics": "plugins.topics",
    "risk": "plugins.risk",
}

ENTRY_POINT_GROUP = "monitor"


@dataclass
class PluginInfo:
    """What ``monitor plugins list`` shows about one plugin."""

    name: str
    origin: str  # "built-in", or "<distribution> <version>" for entry points, or "registered"
    module: str
    hooks: list[str]
    enabled: bool = True


def _entry_point_names() -> set[str]:
    """Names declared in the ``monitor`` entry-point group, loaded or blocked."""
    from importlib.metadata import entry_points

    return {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}


class PluginManager:
    """Loads plugins and calls their hooks with per-plugin guards."""

    def __init__(self, disabled: list[str] | tuple = (), *, entry_points: bool = True,
                 builtins: dict[str, str] | None = None):
        self.pm = pluggy.PluginManager("monitor")
        self.pm.add_hookspecs(hookspecs)
        self.failures: Counter[str] = Counter()
        self._disabled = list(disabled)
        self._origins: dict[str, str] = {}
        for name in self._disabled:
            self.pm.set_blocked(name)
        for name, module in (DEFAULT_PLUGINS if builtins is None else builtins).items():
            if name in self._disabled:
                continue
            try:
                self.pm.register(importlib.import_module(module), name=name)
            except ImportError as exc:
                raise PluginError(f"built-in plugin {name!r} ({module}) cannot be imported: "
                                  f"{exc}") from exc
            self._origins[name] = "built-in"
        if entry_points:
            before = set(self.names())
            self.pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
            for plugin, dist in self.pm.list_plugin_distinfo():
                name = self.pm.get_name(plugin)
                if name not in before:
                    self._origins[name] = f"{dist.project_name} {dist.version}"
        known = set(self.names()) | set(DEFAULT_PLUGINS) | (
            _entry_point_names() if entry_points else set())
        unknown = [n for n in self._disabled if n not in known]
        if unknown:
            raise ConfigError(f"unknown plugin(s) {', '.join(map(repr, unknown))}; installed "
                              f"plugins: {', '.join(sorted(known))}", key="plugins.disabled")
        self._stores: dict[str, Callable] | None = None

    # -- registry ------------------------------------------------------------------------------

    def register(self, plugin: Any, name: str | None = None) -> str:
        """Register a plugin object or module at run time (tests, embedding applications)."""
        registered = self.pm.register(plugin, name=name)
        self._origins[registered] = "registered"
        self._stores = None
        return registered

    def names(self) -> list[str]:
        """Names of the loaded (enabled) plugins, in registration order."""
        return [self.pm.get_name(p) for p in self.pm.get_plugins()]

    def info(self) -> list[PluginInfo]:
        """Every loaded plugin, then every disabled one."""
        rows = []
        for plugin in self.pm.get_plugins():
            name = self.pm.get_name(plugin)
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            module = getattr(plugin, "__name__", type(plugin).__module__)
            rows.append(PluginInfo(name, self._origins.get(name, "registered"), module, hooks))
        for name in self._disabled:
            rows.append(PluginInfo(name, "built-in" if name in DEFAULT_PLUGINS else "entry point",
                                   DEFAULT_PLUGINS.get(name, ""), [], enabled=False))
        return sorted(rows, key=lambda r: (not r.enabled, r.name))

    def stores(self) -> dict[str, Callable]:
        """Store factories registered through ``register_stores``, by backend name."""
        if self._stores is None:
            found: dict[str, tuple[Callable, str]] = {}
            for impl in self._impls("register_stores"):
                def register(name: str, factory: Callable, _owner=impl.plugin_name) -> None:
                    if name in found:
                        raise PluginError(f"store backend {name!r} registered by both "
                                          f"{found[name][1]!r} and {_owner!r}")
                    found[name] = (factory, _owner)
                impl.function(register=register)
            self._stores = {name: factory for name, (factory, _) in found.items()}
        return self._stores

    def channels(self) -> dict[str, Callable]:
        """Alert channel types by name: the built-in ones, then those of ``register_channels``."""
        from alerts.channels import builtin_channel_types  # alerts builds on monitor, lazily

        found: dict[str, tuple[Callable, str]] = {
            name: (cls, "built-in") for name, cls in builtin_channel_types().items()}
        for impl in self._impls("register_channels"):
            def register(name: str, cls: Callable, _owner=impl.plugin_name) -> None:
                if name in found:
                    raise PluginError(f"channel type {name!r} registered by both "
                                      f"{found[name][1]!r} and {_owner!r}")
                found[name] = (cls, _owner)
            impl.function(register=register)
        return {name: cls for name, (cls, _) in found.items()}

    # -- guarded calls -------------------------------------------------------------------------

    def _impls(self, hook: str):
        # pluggy calls implementations last-registered first, tryfirst before trylast
        return list(reversed(getattr(self.pm.hook, hook).get_hookimpls()))

    @staticmethod
    def _call(impl, kwargs: dict) -> Any:
        return impl.function(**{k: kwargs[k] for k in impl.argnames})

    def _failed(self, impl, hook: str, document) -> None:
        key = f"{impl.plugin_name}.{hook}"
        self.failures[key] += 1
        log.warning("plugin %s failed on document %s (%s)", key,
                    getattr(document, "id", "?"), getattr(document, "url", ""), exc_info=True)

    def analyze(self, document, monitor) -> dict[str, Any]:
        """Merged ``analyze_document`` results; a failing plugin is logged and counted."""
        merged: dict[str, Any] = {}
        kwargs = {"document": document, "monitor": monitor}
        for impl in self._impls("analyze_document"):
            try:
                result = self._call(impl, kwargs)
                if result is None:
                    continue
                if not isinstance(result, dict):
                    raise TypeError(f"analyze_document returned {type(result).__name__}, "
                                    "expected a dict or None")
                merged.update(result)
            except Exception:  # noqa: BLE001 - a plugin must never lose the document
                self._failed(impl, "analyze_document", document)
        return merged

    def rank_risk(self, document, monitor) -> RiskAssessment | None:
        """The first risk assessment any plugin returns; a failing scorer falls through."""
        kwargs = {"document": document, "monitor": monitor}
        for impl in self._impls("rank_risk"):
            try:
                result = RiskAssessment.coerce(self._call(impl, kwargs))
            except Exception:  # noqa: BLE001
                self._failed(impl, "rank_risk", document)
                continue
            if result is not None:
                return result
        return None

    def document_stored(self, document, status: str, monitor) -> None:
        """Tell every plugin a document was stored; failures are logged and counted."""
        kwargs = {"document": document, "status": status, "monitor": monitor}
        for impl in self._impls("document_stored"):
            try:
                self._call(impl, kwargs)
            except Exception:  # noqa: BLE001
                self._failed(impl, "document_stored", document)
