"""The ``renderfarm`` command, on top of the client core (click, rich and Pillow live here only).

``renderfarm_client.cli:main`` is the console script.
"""

from renderfarm_client.cli.commands import EXIT_FAILED, EXIT_INTERRUPTED, cli, main

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "cli", "main"]
