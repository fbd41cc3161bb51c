"""API keys, stored only as sha256 hashes, each bound to one tenant.

Local format (``RENDERFARM_API_KEY_HASHES``): ``tenant=sha256hex,tenant2=sha256hex``; a tenant may
appear more than once (key rotation). Key Vault format (defined here): one secret per key, named
``apikey-<anything>``, whose value is ``tenant=sha256hex``, the same grammar as one local entry.
Keys made by ``renderfarm keys create`` (and infra/deploy.sh) are named ``apikey-<tenant>-<key id>``
and tagged with their tenant, key id and purpose, so they can be listed without reading a value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from renderfarm.shared.errors import DomainError
from renderfarm.shared.tenants import is_tenant

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
KEY_PREFIX = "rf_"
KEYVAULT_SECRET_PREFIX = "apikey-"  # noqa: S105 (a name prefix, not a secret)
KEY_PURPOSE = "renderfarm-api-key"
TENANT_TAG = "tenant"
KEY_ID_TAG = "key-id"
PURPOSE_TAG = "purpose"
ENTRY_CONTENT_TYPE = "tenant=sha256hex"


class KeyConfigError(DomainError, ValueError):
    """The configured key hashes cannot be read (a deployment error, not a client error)."""

    status, slug, title = 503, "unavailable", "Service unavailable"
    alarming = True

    def problem_detail(self) -> str:
        return "authentication is misconfigured"  # the configuration's words stay in the log

    def problem_headers(self) -> Mapping[str, str]:
        return {"Retry-After": "60"}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random key to hand to a tenant (store only its hash)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    """A short random id that names one key among its tenant's (not derived from the key)."""
    return secrets.token_hex(4)


def secret_name(tenant: str, key_id: str) -> str:
    """The Key Vault secret that holds one key's hash: ``apikey-<tenant>-<key id>``."""
    if not is_tenant(tenant):
        raise KeyConfigError(
            f"tenant {tenant!r} is not 1-63 lower-case letters, digits and dashes, "
            "starting with a letter or digit"
        )
    return f"{KEYVAULT_SECRET_PREFIX}{tenant}-{key_id}"


def entry(tenant: str, digest: str) -> str:
    """One ``tenant=sha256hex`` entry, checked as the API will read it."""
    text = f"{tenant}={digest}"
    parse_entry(text)
    return text


def parse_entry(entry: str) -> tuple[str, str]:
    """One ``tenant=sha256hex`` entry as (hash, tenant)."""
    tenant, sep, digest = entry.strip().partition("=")
    tenant, digest = tenant.strip(), digest.strip().lower()
    if not sep or not is_tenant(tenant) or not _HEX64.match(digest):
        raise KeyConfigError("an API key entry is not tenant=<64 hex digits>")
    return digest, tenant


@dataclass(frozen=True, kw_only=True)
class KeyRing:
    """Which tenant each key hash belongs to."""

    tenants_by_hash: dict[str, str]

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> KeyRing:
        return cls(tenants_by_hash=dict(parse_entry(e) for e in entries if e.strip()))

    @classmethod
    def from_setting(cls, text: str | None) -> KeyRing:
        return cls.from_entries((text or "").split(","))

    def tenant_for(self, presented_key: str) -> str | None:
        """The tenant a presented key belongs to, or None. Compares hashes in constant time."""
        digest = hash_key(presented_key)
        found: str | None = None
        for stored, tenant in self.tenants_by_hash.items():
            if hmac.compare_digest(stored, digest):
                found = tenant
        return found
