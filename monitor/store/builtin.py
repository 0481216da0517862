"""Built-in plugin that registers the embedded (SQLite + FTS5) store backend."""
from monitor import hookimpl


def _embedded(config):
    from monitor.store.embedded import EmbeddedStore

    return EmbeddedStore(config)


@hookimpl
def register_stores(register):
    """Register ``embedded``, the default backend that needs nothing installed."""
    register("embedded", _embedded)
