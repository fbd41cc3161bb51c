"""Idempotency keys: a retried ``POST /api/jobs`` names the same job.

The job id is derived from the tenant and the key, so a retry finds the manifest the first try
wrote (a conditional create settles races) without a separate idempotency store.
"""

from __future__ import annotations

import hashlib
import re
import uuid

#: Printable ASCII without spaces, 1 to 255 characters (the API's schema declares it).
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY = re.compile(KEY_PATTERN)


def is_valid_key(key: str) -> bool:
    """Printable ASCII without spaces, 1 to 255 characters."""
    return _KEY.match(key) is not None


def job_id_for(tenant: str, idempotency_key: str | None) -> str:
    """A fresh random id, or one fixed by (tenant, key): 32 lower-case hex digits either way."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    digest = hashlib.sha256(f"{tenant}\n{idempotency_key}".encode()).hexdigest()
    return digest[:32]
