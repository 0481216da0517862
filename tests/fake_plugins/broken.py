"""A plugin whose every hook raises: the host must log, count and carry on."""
from monitor import hookimpl


@hookimpl
def analyze_document(document):
    raise RuntimeError(f"boom on {document.id}")


@hookimpl(tryfirst=True)
def rank_risk(document):
    raise RuntimeError("risk boom")


@hookimpl
def document_stored(document, status):
    raise RuntimeError("listener boom")
