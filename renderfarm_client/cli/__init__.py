"""The client's commands of ``renderfarm`` (click, rich and Pillow live here only), on top of the
client core. ``renderfarm_cli`` composes the command and is the console script."""
