"""``monitor incidents``: open, classify and follow incidents (issue 8; docs/incidents.md)."""
from __future__ import annotations

import click


@click.group()
def incidents() -> None:
    """Incidents: open one from an alert or by hand, set its level and category, see its
    timeline."""
