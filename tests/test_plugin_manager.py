"""Plugin manager: built-ins, entry points, disabling, guarded calls, registration clashes."""
import sys
import textwrap

import pytest

from monitor.documents import Document
from monitor.errors import ConfigError, PluginError
from monitor.plugins import DEFAULT_PLUGINS, PluginManager
from fake_plugins import broken, dupstore, overrides


def doc(title="标题", text="正文内容"):
    return Document.new("s", "news", f"http://a/{title}", title=title, text=text)


def test_builtins_are_registered_like_any_plugin():
    pm = PluginManager(entry_points=False)
    assert set(pm.names()) == set(DEFAULT_PLUGINS)
    info = {r.name: r for r in pm.info()}
    assert info["risk"].origin == "built-in"
    assert "rank_risk" in info["risk"].hooks
    assert "embedded" in pm.stores()


def test_disabled_plugin_is_not_loaded_and_is_listed():
    pm = PluginManager(["sentiment_snownlp", "topics"], entry_points=False)
    assert "sentiment_snownlp" not in pm.names()
    disabled = [r.name for r in pm.info() if not r.enabled]
    assert disabled == ["sentiment_snownlp", "topics"]


def test_unknown_disabled_name_is_a_config_error():
    with pytest.raises(ConfigError, match="sentimet"):
        PluginManager(["sentimet"], entry_points=False)


def test_broken_plugin_is_counted_and_the_rest_still_run():
    pm = PluginManager(["sentiment_snownlp", "topics"], entry_points=False)
    pm.register(broken, "broken")
    pm.register(overrides, "overrides")
    d = doc()
    analysis = pm.analyze(d, None)
    assert analysis == {"length": {"chars": 4}}
    risk = pm.rank_risk(d, None)  # broken scorer raises, the built-in one answers
    assert risk is not None and 0 <= risk.score <= 1
    pm.document_stored(d, "inserted", None)
    assert pm.failures == {"broken.analyze_document": 1, "broken.rank_risk": 1,
                           "broken.document_stored": 1}


def test_first_risk_result_wins():
    pm = PluginManager(["sentiment_snownlp", "topics"], entry_points=False)
    pm.register(overrides, "overrides")
    assert pm.rank_risk(doc(title="override me"), None).reasons == ["forced by test plugin"]
    assert pm.rank_risk(doc(title="normal"), None).reasons != ["forced by test plugin"]


def test_registering_a_store_twice_names_both_plugins():
    pm = PluginManager(["sentiment_snownlp", "topics", "risk"], entry_points=False)
    pm.register(dupstore, "dupstore")
    with pytest.raises(PluginError, match="'store_embedded' and 'dupstore'|'dupstore' and "
                                          "'store_embedded'"):
        pm.stores()


def test_entry_point_plugins_load_and_can_be_disabled(tmp_path, monkeypatch):
    (tmp_path / "extplug.py").write_text(textwrap.dedent('''
        from monitor import hookimpl

        @hookimpl
        def analyze_document(document):
            return {"ext": True}
    '''))
    dist = tmp_path / "extplug-1.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: extplug\nVersion: 1.2\n")
    (dist / "entry_points.txt").write_text("[monitor]\nextplug = extplug\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        pm = PluginManager(["sentiment_snownlp"])
        info = {r.name: r for r in pm.info()}
        assert info["extplug"].origin == "extplug 1.2"
        assert pm.analyze(doc(), None)["ext"] is True
        blocked = PluginManager(["sentiment_snownlp", "extplug"])
        assert "extplug" not in blocked.names()
    finally:
        sys.modules.pop("extplug", None)
