"""The farm's client: everything that talks to a farm over HTTP, local or in Azure.

The modules at this level are the client core (``farm_api``, ``wire``, ``job_follower``,
``render_request``, ``summary``): standard library only, Python 3.11 syntax, relative imports
among themselves, so Blender's bundled Python runs them as the add-on's vendored copy
(``scripts/build_addon.py`` copies exactly these files). ``cli/`` is the ``renderfarm`` command on
top of the core (click, rich, Pillow); it wires in the local farm's commands from
``renderfarm_local``.
"""
