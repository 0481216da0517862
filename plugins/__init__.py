"""Built-in analysis plugins, each an ordinary pluggy plugin module.

``sentiment_snownlp`` adds ``analysis["sentiment"]``, ``topics`` adds keywords, topics and risk
signals, and ``risk`` is the default (``trylast``) ``rank_risk`` scorer.  They are registered by
:mod:`monitor.plugins` exactly like third-party plugins; see ``docs/plugins.md``.
"""
