"""What a tenant name may be: it names blob folders, key vault tags and queues' owners."""

from __future__ import annotations

import re

_TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def is_tenant(text: str) -> bool:
    return _TENANT.match(text) is not None
