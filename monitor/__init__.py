"""Public-opinion (舆情) monitoring and response for government offices.

Third-party plugins write ``from monitor import hookimpl`` and declare an entry point in the
``monitor`` group.
"""
import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("monitor")

__all__ = ["hookimpl", "__version__"]
