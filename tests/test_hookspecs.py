"""Meta-tests: every hookspec is documented and exercised by at least one test."""
import inspect
from pathlib import Path

from monitor import hookspecs

SPECS = [name for name, fn in vars(hookspecs).items()
         if inspect.isfunction(fn) and hasattr(fn, "monitor_spec")]


def test_there_are_hookspecs():
    assert {"analyze_document", "rank_risk", "document_stored", "register_stores"} <= set(SPECS)


def test_every_hookspec_has_a_docstring_stating_its_contract():
    for name in SPECS:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert len(doc) > 80, f"{name} needs a docstring with arguments and return contract"
        assert "return" in doc.lower(), f"{name}'s docstring must say what it returns"


def test_every_hookspec_is_implemented_in_a_test_or_plugin():
    here = Path(__file__).parent
    text = "\n".join(p.read_text(encoding="utf-8") for p in here.rglob("*.py"))
    for name in SPECS:
        assert f"def {name}(" in text, f"no test plugin implements {name}"
