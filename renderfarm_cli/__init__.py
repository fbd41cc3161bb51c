"""The ``renderfarm`` command, composed: the client's commands (``renderfarm_client.cli``: drive
any farm over HTTP) and the local farm's (``renderfarm_local.commands``: ``local`` and ``keys``)
under one group. The client library never imports the local farm; this package imports both.

``renderfarm_cli:main`` is the console script; ``python -m renderfarm_cli`` runs it uninstalled.
"""

from renderfarm_cli.command import EXIT_FAILED, EXIT_INTERRUPTED, cli, main

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "cli", "main"]
