"""Where API key hashes come from: the settings locally, Key Vault in Azure (cached).

The vault's keys are cached for ``cache_seconds`` (RENDERFARM_KEYVAULT_CACHE_SECONDS, 60 s): a
revoked, disabled or expired key is refused within that time. A key the cache does not know
reloads it at once (at most every UNKNOWN_KEY_RELOAD_SECONDS), so a new key works straight
away. When the vault does not answer, keys already trusted keep working until the cache expires,
and a key it does not know is a 503 (DependencyUnavailable), never a 401: the vault may know it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.secrets import SecretClient, SecretProperties

from renderfarm.keys.api_keys import (
    KEYVAULT_SECRET_PREFIX,
    ApiKey,
    KeyConfigError,
    KeyRing,
    parse_entry,
    vault_key_id,
)
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.errors import DependencyUnavailable
from renderfarm_azure.guard import guarded

log = logging.getLogger(__name__)

#: The default of RENDERFARM_KEYVAULT_CACHE_SECONDS: how long the vault's keys are reused.
KEYVAULT_CACHE_SECONDS = 60.0
#: An unknown key reloads the keys at most this often, so wrong keys cannot flood the vault.
UNKNOWN_KEY_RELOAD_SECONDS = 2.0


class KeySource(Protocol):
    def key_for(self, presented_key: str) -> ApiKey | None:
        """The key's tenant and id, or None for a key that is not (or no longer) valid.
        Raises DependencyUnavailable when it cannot tell."""

    def tenant_for(self, presented_key: str) -> str | None:
        """``key_for``'s tenant."""


class StaticKeySource:
    def __init__(self, ring: KeyRing):
        self._ring = ring

    def key_for(self, presented_key: str) -> ApiKey | None:
        return self._ring.key_for(presented_key)

    def tenant_for(self, presented_key: str) -> str | None:
        return self._ring.tenant_for(presented_key)


def utc_now() -> datetime:
    return datetime.now(UTC)


def is_trusted(secret: SecretProperties, now: datetime) -> bool:
    """An API key's secret that is enabled and inside its validity window."""
    return (
        bool(secret.name and secret.name.startswith(KEYVAULT_SECRET_PREFIX))
        and secret.enabled is True
        and (secret.expires_on is None or secret.expires_on > now)
        and (secret.not_before is None or secret.not_before <= now)
    )


class KeyVaultKeySource:
    """Secrets named ``apikey-*`` whose values are ``tenant=sha256hex`` (see api_keys)."""

    def __init__(  # noqa: PLR0913 - keyword-only: the client, the cache times and clocks
        self,
        *,
        client: SecretClient,
        breaker: CircuitBreaker,
        cache_seconds: float = KEYVAULT_CACHE_SECONDS,
        unknown_key_reload_seconds: float = UNKNOWN_KEY_RELOAD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
    ):
        self._client = client
        self._breaker = breaker
        self._cache_seconds = cache_seconds
        self._unknown_key_reload_seconds = unknown_key_reload_seconds
        self._clock = clock
        self._now = now
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0
        self._attempted_at = 0.0
        self._failure: DependencyUnavailable | None = None
        # Values already read, by (name, updated): a reload reads only what changed.
        self._values: dict[tuple[str, datetime | None], str] = {}
        self._lock = threading.Lock()

    def tenant_for(self, presented_key: str) -> str | None:
        key = self.key_for(presented_key)
        return key.tenant if key is not None else None

    def key_for(self, presented_key: str) -> ApiKey | None:
        with self._lock:
            ring = self._fresh_ring()
            key = ring.key_for(presented_key)
            if key is not None:
                return key
            if self._clock() - self._attempted_at >= self._unknown_key_reload_seconds:
                return self._reload().key_for(presented_key)
            failure = self._failure
            if failure is not None:  # the vault was just down: it may know this key
                raise DependencyUnavailable(failure.dependency, failure.retry_after, failure.detail)
            return None

    def _fresh_ring(self) -> KeyRing:
        if self._ring is None or self._clock() - self._loaded_at >= self._cache_seconds:
            return self._reload()
        return self._ring

    def _reload(self) -> KeyRing:
        started = self._clock()
        self._attempted_at = started
        try:
            ring = guarded(self._breaker, self._load)
        except DependencyUnavailable as error:
            self._failure = error
            raise
        self._ring, self._loaded_at, self._failure = ring, started, None
        return ring

    def _load(self) -> KeyRing:
        now = self._now()
        values: dict[tuple[str, datetime | None], str] = {}
        ids: dict[tuple[str, datetime | None], str] = {}
        for secret in self._client.list_properties_of_secrets():
            if not is_trusted(secret, now):
                continue
            version = (str(secret.name), secret.updated_on)
            value = self._values.get(version)
            if value is None:
                value = self._read(str(secret.name))
            if value is not None:
                values[version] = value
                ids[version] = vault_key_id(str(secret.name), secret.tags)
        self._values = values
        return KeyRing.from_named((ids[version], value) for version, value in values.items())

    def _read(self, name: str) -> str | None:
        """A key's ``tenant=sha256hex``; None when it went between listing and reading, or is
        not one (a bad secret must not lock every tenant out)."""
        try:
            value = self._client.get_secret(name).value
        except ResourceNotFoundError:
            return None
        try:
            parse_entry(value or "")
        except KeyConfigError:
            log.warning("Key Vault secret %s is not tenant=<sha256 hex>: ignored", name)
            return None
        return value
