"""Helpers for plugin authors' tests: run a plugin through the real plugin manager.

    from monitor.testing import make_document, analyze_with

    def test_my_plugin():
        doc = make_document("学校围墙倒塌，有学生受伤")
        assert analyze_with(my_plugin, doc)["my_aspect"] == ...
"""
from __future__ import annotations

import hashlib
from typing import Any

from monitor.documents import Document
from monitor.plugins import PluginManager
from monitor.risk import RiskAssessment


def make_document(text: str, *, title: str = "", channel: str = "social", kind: str = "post",
                  url: str | None = None, source: str = "test", **fields: Any) -> Document:
    """A document with a deterministic id, for tests."""
    # hashlib, not hash(): str hashes differ between processes, and ids must not
    url = url or ("https://example.invalid/"
                  + hashlib.sha1(f"{title}\x1f{text}".encode("utf-8")).hexdigest()[:16])
    return Document.new(source, channel, url, title=title, text=text, kind=kind, **fields)


def manager_with(plugin: Any, *, builtins: bool = False, name: str | None = None
                 ) -> PluginManager:
    """A plugin manager holding ``plugin`` (and the built-ins when asked), no entry points."""
    pm = PluginManager(entry_points=False, builtins=None if builtins else {})
    pm.register(plugin, name or getattr(plugin, "__name__", "under_test").rsplit(".", 1)[-1])
    return pm


def analyze_with(plugin: Any, document: Document, monitor: Any = None) -> dict[str, Any]:
    """What ``plugin``'s ``analyze_document`` adds, called exactly as the pipeline calls it.

    Raises the plugin's exception instead of counting it, so a test sees what went wrong.
    """
    pm = manager_with(plugin)
    result = pm.analyze(document, monitor)
    if pm.failures:
        raise AssertionError(f"plugin failed: {dict(pm.failures)} (see the log)")
    return result


def risk_with(plugin: Any, document: Document, monitor: Any = None) -> RiskAssessment | None:
    """What ``plugin``'s ``rank_risk`` returns for ``document`` (None when it passes)."""
    pm = manager_with(plugin)
    result = pm.rank_risk(document, monitor)
    if pm.failures:
        raise AssertionError(f"plugin failed: {dict(pm.failures)} (see the log)")
    return result
