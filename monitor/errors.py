"""The exception tree: every error the engine raises on purpose is a MonitorError."""


class MonitorError(Exception):
    """Base class of every deliberate error in the monitor."""


class ConfigError(MonitorError):
    """A configuration file is missing, unreadable or has a wrong value.

    The message names the file, the key and what is expected, so that the person who wrote the
    file can fix it without reading code.
    """

    def __init__(self, message: str, *, path=None, key: str | None = None):
        self.path = path
        self.key = key
        where = str(path) if path else ""
        if key:
            where = f"{where}: [{key}]" if where else f"[{key}]"
        super().__init__(f"{where}: {message}" if where else message)


class PluginError(MonitorError):
    """A plugin could not be loaded or registered something twice."""


class StoreError(MonitorError):
    """The document store failed or was asked for something it cannot do."""


class CrawlError(MonitorError):
    """A crawl could not be started or its report could not be read."""


class ChannelError(MonitorError):
    """An alert channel could not deliver (used by the alerting work)."""


class StoreBusy(StoreError):
    """The store stayed locked by another writer for longer than the write timeout; the batch
    was not written and is still the caller's to keep (see :mod:`monitor.spool`)."""
