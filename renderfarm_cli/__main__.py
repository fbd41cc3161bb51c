"""``python -m renderfarm_cli``: the ``renderfarm`` command without installing it (``make run``
uses it)."""

import sys

from renderfarm_cli.command import main

sys.exit(main())
