"""pgo-sandbox control plane: topology, runtimes, CLI and reports."""

__version__ = "0.1.0"
