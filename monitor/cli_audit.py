"""``monitor audit``: the append-only, hash-chained audit trail (issue 8; docs/audit.md)."""
from __future__ import annotations

import click


@click.group()
def audit() -> None:
    """The audit trail: verify that no row was edited or deleted, export it."""
