"""Image and video work on rendered frames (Pillow, PyAV), shared by the Functions app and the CLI.

Apart from ``renderfarm/`` (the domain, which the worker image runs on Python 3.11 without these
libraries) and from the client core in ``renderfarm_client/`` (stdlib only, for Blender's
Python); the CLI in ``renderfarm_client/cli/`` uses it.
"""
