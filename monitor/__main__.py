"""``python -m monitor`` runs the command line."""
from monitor.cli import cli

if __name__ == "__main__":  # pragma: no cover
    cli(prog_name="monitor")
