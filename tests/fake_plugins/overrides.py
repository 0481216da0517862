"""A plugin that adds an aspect, overrides the risk score and records what was stored."""
from monitor import hookimpl
from monitor.risk import RiskAssessment

stored: list[tuple[str, str]] = []


@hookimpl
def analyze_document(document, monitor):
    return {"length": {"chars": len(document.text)}}


@hookimpl(tryfirst=True)
def rank_risk(document):
    if "override" in document.title:
        return RiskAssessment(0.99, ["forced by test plugin"])
    return None


@hookimpl
def document_stored(document, status):
    stored.append((document.id, status))
