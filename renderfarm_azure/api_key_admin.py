"""API keys in Key Vault, for people: make one (the key is shown once, only its hash is stored),
list them, revoke one. Used by ``renderfarm keys`` and by the local farm for its own key.

A key is the secret ``apikey-<tenant>-<key id>`` whose value is ``tenant=sha256hex``, tagged with
its tenant, key id and purpose (the format in renderfarm.keys.api_keys, as infra/deploy.sh writes
it).
Revoking deletes the secret and does not purge it: the API stops trusting a deleted secret at
once (within its cache lifetime), the soft-deleted hash is useless to anyone holding it, a wrong
revocation can be undone (``az keyvault secret recover``), and the vault in Azure has purge
protection, so a purge would be refused there anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.secrets import SecretClient, SecretProperties

from renderfarm.keys.api_keys import (
    ENTRY_CONTENT_TYPE,
    KEY_ID_TAG,
    KEY_PURPOSE,
    KEYVAULT_SECRET_PREFIX,
    PURPOSE_TAG,
    TENANT_TAG,
    KeyConfigError,
    entry,
    hash_key,
    new_key,
    new_key_id,
    parse_entry,
    secret_name,
    vault_key_id,
)
from renderfarm.shared.tenants import is_tenant

_DURATION = re.compile(r"^(\d{1,5})([hdw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_CONFLICT = 409


class ApiKeyError(ValueError):
    """A request about keys that cannot be done, said in one line."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_lifetime(text: str) -> timedelta:
    """``90d``, ``12h``, ``2w``: how long a new key stays valid."""
    match = _DURATION.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ApiKeyError(f"--expires {text!r} is not a duration such as 90d, 12h or 2w")
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True, kw_only=True)
class StoredKey:
    """One key as the vault describes it; never its value."""

    name: str
    tenant: str
    key_id: str
    created_on: datetime | None
    expires_on: datetime | None
    enabled: bool
    #: When the API last accepted it: the vault does not record it, so None (unknown).
    last_used: datetime | None = None

    @classmethod
    def from_properties(cls, secret: SecretProperties) -> StoredKey:
        tags = secret.tags or {}
        name = str(secret.name)
        return cls(
            name=name,
            tenant=tags.get(TENANT_TAG, "?"),
            key_id=vault_key_id(name, tags),
            created_on=secret.created_on,
            expires_on=secret.expires_on,
            enabled=bool(secret.enabled),
        )

    def is_expired(self, now: datetime) -> bool:
        return self.expires_on is not None and self.expires_on <= now


@dataclass(frozen=True, kw_only=True)
class NewKey:
    key: str  # shown once, stored nowhere
    stored: StoredKey


class ApiKeyAdmin:
    def __init__(self, client: SecretClient, *, now: Callable[[], datetime] = utc_now):
        self._client = client
        self._now = now

    def create(self, tenant: str, *, lifetime: timedelta | None = None) -> NewKey:
        """A new key for ``tenant``; only its hash goes to the vault."""
        key = new_key()
        expires_on = self._now() + lifetime if lifetime else None
        stored = self._store(tenant, key, key_id=new_key_id(), expires_on=expires_on)
        return NewKey(key=key, stored=stored)

    def ensure(self, tenant: str, key: str) -> bool:
        """Store ``key``'s hash unless the vault has it (the local farm's own key, whose id is
        made from its hash so that every start names the same secret); True when stored now."""
        key_id = hash_key(key)[:8]
        try:
            self._client.get_secret(secret_name(tenant, key_id))
        except ResourceNotFoundError:
            self._store(tenant, key, key_id=key_id, expires_on=None)
            return True
        return False

    def list(self) -> list[StoredKey]:
        """Every key the vault holds (revoked ones are gone), by tenant then creation."""
        found = [
            StoredKey.from_properties(secret)
            for secret in self._client.list_properties_of_secrets()
            if secret.name and secret.name.startswith(KEYVAULT_SECRET_PREFIX)
        ]
        oldest = datetime.min.replace(tzinfo=UTC)
        return sorted(found, key=lambda key: (key.tenant, key.created_on or oldest))

    def revoke(self, ident: str) -> StoredKey:
        """Delete the key whose id (or secret name) is ``ident``; not purged (see above)."""
        matches = [key for key in self.list() if ident in {key.key_id, key.name}]
        if not matches:
            raise ApiKeyError(f"no API key {ident!r} in this vault (see `renderfarm keys list`)")
        if len(matches) > 1:
            names = ", ".join(key.name for key in matches)
            raise ApiKeyError(f"{ident!r} names several keys ({names}): give the secret name")
        (key,) = matches
        self._client.begin_delete_secret(key.name).wait()
        return key

    def _store(
        self, tenant: str, key: str, *, key_id: str, expires_on: datetime | None
    ) -> StoredKey:
        if not is_tenant(tenant):
            raise ApiKeyError(
                f"tenant {tenant!r} must be 1-63 lower-case letters, digits and dashes, "
                "starting with a letter or digit"
            )
        try:
            name = secret_name(tenant, key_id)
            value = entry(tenant, hash_key(key))
            parse_entry(value)
        except KeyConfigError as error:
            raise ApiKeyError(str(error)) from error
        try:
            secret = self._client.set_secret(
                name,
                value,
                content_type=ENTRY_CONTENT_TYPE,
                tags={TENANT_TAG: tenant, KEY_ID_TAG: key_id, PURPOSE_TAG: KEY_PURPOSE},
                expires_on=expires_on,
            )
        except HttpResponseError as error:
            if error.status_code == _CONFLICT:  # a deleted secret of that name is kept
                raise ApiKeyError(
                    f"API key {name} was revoked and is kept deleted in the vault; "
                    "make a new key instead"
                ) from error
            raise
        return StoredKey.from_properties(secret.properties)
