"""Where webhook secrets live: Key Vault in Azure, a blob of their own locally.

A secret is written before its webhook's record and removed after it, so a record never names a
secret that is not there. In Key Vault each is a secret ``webhook-<id>`` tagged with its tenant;
read back only for that tenant, and kept in memory for a few minutes, so a burst of deliveries
does not become a burst of Key Vault reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.secrets import SecretClient
from azure.storage.blob import ContainerClient, ContentSettings

from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm_azure.guard import guarded

SECRETS_PREFIX = "webhook-secrets/"
KEYVAULT_SECRET_PREFIX = "webhook-"  # noqa: S105 (a name prefix, not a secret)
#: How long a secret read from Key Vault is reused.
SECRET_CACHE_SECONDS = 300.0
_TENANT_TAG = "tenant"
_TEXT = ContentSettings(content_type="text/plain")


class SecretStore(Protocol):
    def put(self, tenant: str, webhook_id: str, secret: str) -> None: ...

    def get(self, tenant: str, webhook_id: str) -> str | None:
        """The webhook's secret; None when it has none (deleted)."""

    def delete(self, tenant: str, webhook_id: str) -> None:
        """Remove the secret; no error when it is gone already."""


def secret_blob(tenant: str, webhook_id: str) -> str:
    return f"{SECRETS_PREFIX}{tenant}/{webhook_id}"


class BlobSecretStore:
    """Locally: ``webhook-secrets/<tenant>/<id>`` next to the records."""

    def __init__(self, *, container: ContainerClient, breaker: CircuitBreaker):
        self._container = container
        self._breaker = breaker

    def put(self, tenant: str, webhook_id: str, secret: str) -> None:
        blob = self._container.get_blob_client(secret_blob(tenant, webhook_id))
        guarded(
            self._breaker,
            lambda: blob.upload_blob(secret.encode(), overwrite=True, content_settings=_TEXT),
        )

    def get(self, tenant: str, webhook_id: str) -> str | None:
        blob = self._container.get_blob_client(secret_blob(tenant, webhook_id))
        try:
            download = guarded(self._breaker, blob.download_blob)
            return guarded(self._breaker, download.readall).decode()
        except ResourceNotFoundError:
            return None

    def delete(self, tenant: str, webhook_id: str) -> None:
        blob = self._container.get_blob_client(secret_blob(tenant, webhook_id))
        try:
            guarded(self._breaker, blob.delete_blob)
        except ResourceNotFoundError:
            return


class KeyVaultSecretStore:
    """In Azure: Key Vault secrets ``webhook-<id>``, tagged with their tenant."""

    def __init__(
        self,
        *,
        client: SecretClient,
        breaker: CircuitBreaker,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self._breaker = breaker
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def put(self, tenant: str, webhook_id: str, secret: str) -> None:
        name = KEYVAULT_SECRET_PREFIX + webhook_id
        guarded(
            self._breaker,
            lambda: self._client.set_secret(
                name, secret, tags={_TENANT_TAG: tenant}, content_type="whsec"
            ),
        )

    def get(self, tenant: str, webhook_id: str) -> str | None:
        name = KEYVAULT_SECRET_PREFIX + webhook_id
        with self._lock:
            cached = self._cache.get(name)
        if cached and self._clock() - cached[1] < SECRET_CACHE_SECONDS:
            return cached[0]
        try:
            secret = guarded(self._breaker, lambda: self._client.get_secret(name))
        except ResourceNotFoundError:
            return None
        if (secret.properties.tags or {}).get(_TENANT_TAG) != tenant or not secret.value:
            return None  # another tenant's: never hand it out
        with self._lock:
            self._cache[name] = (secret.value, self._clock())
        return secret.value

    def delete(self, tenant: str, webhook_id: str) -> None:
        """Soft-delete (the vault keeps it for its retention period; ids are never reused)."""
        del tenant  # ids are unique across tenants; the record was checked by the caller
        name = KEYVAULT_SECRET_PREFIX + webhook_id
        with self._lock:
            self._cache.pop(name, None)
        try:
            guarded(self._breaker, lambda: self._client.begin_delete_secret(name))
        except ResourceNotFoundError:
            return
