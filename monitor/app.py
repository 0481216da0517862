"""The running monitor: configuration, plugins, document store and workflow state together."""
from __future__ import annotations

import difflib
import logging
import os

from monitor.config import MonitorConfig, load_config
from monitor.documents import Document
from monitor.pipeline import IngestStats, ingest
from monitor.errors import ConfigError
from monitor.plugins import DEFAULT_PLUGINS, PluginManager
from monitor.store import Store, open_store

log = logging.getLogger(__name__)


class Monitor:
    """One office's monitor.  Opens the store and the state database on first use."""

    def __init__(self, config: MonitorConfig, *, plugins: PluginManager | None = None,
                 entry_points: bool = True):
        self.config = config
        self.plugins = plugins or PluginManager(config.plugins_disabled,
                                                entry_points=entry_points)
        self._store: Store | None = None
        self._state = None
        self._check_plugin_settings()

    def _check_plugin_settings(self) -> None:
        """A ``[plugins.<name>]`` table for a plugin that does not exist is a typo: say so."""
        known = set(self.plugins.names()) | set(self.config.plugins_disabled) | set(
            DEFAULT_PLUGINS)
        for name in self.config.plugin_settings:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f"did you mean 'plugins.{close[0]}'?" if close else (
                    f"installed plugins: {', '.join(sorted(known))}")
                raise ConfigError(f"settings for an unknown plugin; {hint}",
                                  path=self.config.config_dir / "monitor.toml",
                                  key=f"plugins.{name}")

    @classmethod
    def open(cls, config_dir: str | os.PathLike | None = None, **kwargs) -> "Monitor":
        """Load the configuration directory and build a monitor on it."""
        return cls(load_config(config_dir), **kwargs)

    @property
    def store(self) -> Store:
        """The document store named in ``[store]``."""
        if self._store is None:
            self._store = open_store(self.config.store, self.plugins.stores())
        return self._store

    @property
    def state(self):
        """The workflow-state database (:class:`monitor.state.StateDB`)."""
        if self._state is None:
            from monitor.state import StateDB

            self._state = StateDB(self.config.state_url)
        return self._state

    def ingest(self, documents: list[Document]) -> IngestStats:
        """Analyse and store documents (see :mod:`monitor.pipeline`)."""
        return ingest(documents, self)

    def close(self) -> None:
        """Close the store and the state database."""
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._state is not None:
            self._state.close()
            self._state = None

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
