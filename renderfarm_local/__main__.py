"""``python -m renderfarm_local``: the ``renderfarm`` command without installing it (``make run``
uses it). The command itself is ``renderfarm_client.cli``."""

import sys

from renderfarm_client.cli import main

sys.exit(main())
