"""The helpers offered to plugin authors work on a real plugin."""
import pytest

from fake_plugins import broken, overrides
from monitor.testing import analyze_with, make_document, risk_with


def test_analyze_with_returns_the_plugin_aspect():
    doc = make_document("十个字的正文内容啊啊")
    assert analyze_with(overrides, doc) == {"length": {"chars": 10}}


def test_risk_with_and_failures_surface():
    doc = make_document("x", title="override")
    assert risk_with(overrides, doc).score == pytest.approx(0.99)
    with pytest.raises(AssertionError, match="broken.analyze_document"):
        analyze_with(broken, doc)
