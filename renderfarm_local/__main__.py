"""``python -m renderfarm_local``: the ``renderfarm`` command without installing it."""

import sys

from renderfarm_local.cli import main

sys.exit(main())
