"""API keys, stored only as sha256 hashes, each bound to one tenant.

Local format (``RENDERFARM_API_KEY_HASHES``): ``tenant=sha256hex,tenant2=sha256hex``; a tenant may
appear more than once (key rotation). Key Vault format (defined here): one secret per key, named
``apikey-<anything>``, whose value is ``tenant=sha256hex``, the same grammar as one local entry.
Keys made by ``renderfarm keys create`` (and infra/deploy.sh) are named ``apikey-<tenant>-<key id>``
and tagged with their tenant, key id and purpose, so they can be listed without reading a value.

A key's id names it among its tenant's (a job records the id of the key that submitted it): the
``key-id`` tag, else the last dash-separated part of its secret's name; a key known only by its
hash (the local format) has the hash's first KEY_ID_DIGITS hex digits, as the local farm names
its own key in the vault. An id is never the key, nor enough of its hash to matter.
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
#: Hex digits of a key's hash that make the id of a key known only by its hash.
KEY_ID_DIGITS = 8


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


def hashed_key_id(digest: str) -> str:
    """The id of a key known only by its hash (the local format)."""
    return digest[:KEY_ID_DIGITS]


def vault_key_id(secret: str, tags: Mapping[str, str] | None) -> str:
    """The id of the key a Key Vault secret holds: its ``key-id`` tag, else its name's last
    dash-separated part (``apikey-<tenant>-<key id>``)."""
    return (tags or {}).get(KEY_ID_TAG) or secret.rsplit("-", 1)[-1]


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """A valid key's tenant and id: who asked, never the key."""

    tenant: str
    key_id: str


@dataclass(frozen=True, kw_only=True)
class KeyRing:
    """Which key, of which tenant, each key hash is."""

    keys_by_hash: dict[str, ApiKey]

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> KeyRing:
        """Keys known only by their ``tenant=sha256hex`` entries (ids from their hashes)."""
        return cls.from_named((None, e) for e in entries if e.strip())

    @classmethod
    def from_named(cls, entries: Iterable[tuple[str | None, str]]) -> KeyRing:
        """Keys as (key id, ``tenant=sha256hex``); a None id is made from the hash."""
        keys: dict[str, ApiKey] = {}
        for key_id, text in entries:
            digest, tenant = parse_entry(text)
            keys[digest] = ApiKey(tenant=tenant, key_id=key_id or hashed_key_id(digest))
        return cls(keys_by_hash=keys)

    @classmethod
    def from_setting(cls, text: str | None) -> KeyRing:
        return cls.from_entries((text or "").split(","))

    def key_for(self, presented_key: str) -> ApiKey | None:
        """The key presented, or None. Compares hashes in constant time."""
        digest = hash_key(presented_key)
        found: ApiKey | None = None
        for stored, key in self.keys_by_hash.items():
            if hmac.compare_digest(stored, digest):
                found = key
        return found

    def tenant_for(self, presented_key: str) -> str | None:
        """The tenant a presented key belongs to, or None."""
        key = self.key_for(presented_key)
        return key.tenant if key is not None else None
