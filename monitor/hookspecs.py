"""Every hook a plugin can implement, grouped by phase.

Hooks are always called with keyword arguments, so a new argument never breaks a plugin: a
plugin declares only the arguments it uses.  Write implementations with ``from monitor import
hookimpl``.
"""
import pluggy

hookspec = pluggy.HookspecMarker("monitor")


# -- registration -------------------------------------------------------------------------------

@hookspec
def register_stores(register):
    """Register document-store backends.

    ``register(name, factory)`` where ``factory(config: StoreConfig) -> Store``.  Registering a
    name that another plugin already registered raises ``PluginError`` naming both plugins.
    Called once when the plugin manager starts.  Returns nothing.
    """


@hookspec
def register_channels(register):
    """Register alert channel types (how a notice reaches people: a robot, e-mail, a hook).

    ``register(name, cls)`` where ``cls(name, table)`` builds one channel instance from its
    table in ``config/channels.toml`` (a :class:`monitor.tomlfile.Table`; wrong values raise
    ``ConfigError``) and has ``send(message) -> DeliveryResult`` that never raises for a
    delivery problem (see :mod:`alerts.channels`).  The built-in types (log, email, dingtalk,
    wecom, feishu, webhook) are always there; registering a name that is built in or that
    another plugin registered raises ``PluginError`` naming both.  Called each time the
    channel types are asked for.  Returns nothing.
    """


# -- analysis (once per document, in the ingest pipeline) ----------------------------------------

@hookspec
def analyze_document(document, monitor):
    """Analyse one document before it is stored.

    Return a dict that is merged into ``document.analysis`` (one key per aspect, for example
    ``{"sentiment": {"score": 0.12, "label": "negative", "model": "snownlp"}}``), or None.
    Every plugin's result is merged; a plugin that raises is logged with the document id and
    counted, and the document is still stored.  ``monitor`` is the running :class:`Monitor`
    (config, store); plugins must not modify the document in place.
    """


@hookspec(firstresult=True)
def rank_risk(document, monitor):
    """Score how risky a document is, after every ``analyze_document`` result is merged.

    Return a :class:`monitor.risk.RiskAssessment` (score in [0, 1] plus human-readable reasons),
    a plain float in [0, 1], or None to let the next implementation decide.  First result wins;
    the built-in scorer is ``trylast``, so any plugin may override it.
    """


# -- events ---------------------------------------------------------------------------------------

@hookspec
def document_stored(document, status, monitor):
    """Notification after a document is written to the store.

    ``status`` is ``"inserted"``, ``"updated"``, ``"unchanged"`` (a re-crawl of the same
    content) or ``"withdrawn"`` (a later crawl found the page taken down: 404/410 or an error
    page; ``document.withdrawn_at`` says since when).  Return value is ignored; a plugin that
    raises is logged and counted.
    """
