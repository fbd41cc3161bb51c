"""Image and video work on rendered frames (Pillow, PyAV), shared by the Functions app and the CLI.

Apart from ``renderfarm/`` (the domain, which the worker image runs on Python 3.11 without these
libraries) and from ``renderfarm_local/`` (which the Functions app does not deploy).
"""
