"""Where API key hashes come from: the settings locally, Key Vault in Azure (cached)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from azure.core.credentials import TokenCredential
from azure.keyvault.secrets import SecretClient

from renderfarm.api_keys import KEYVAULT_SECRET_PREFIX, KeyRing
from renderfarm.circuit_breaker import CircuitBreaker
from renderfarm_azure.guard import guarded

#: How long Key Vault's answer is reused: revoking a key takes effect within this time.
KEYVAULT_CACHE_SECONDS = 300.0


class KeySource(Protocol):
    def key_ring(self) -> KeyRing: ...


class StaticKeySource:
    def __init__(self, ring: KeyRing):
        self._ring = ring

    def key_ring(self) -> KeyRing:
        return self._ring


class KeyVaultKeySource:
    """Secrets named ``apikey-*`` whose values are ``tenant=sha256hex`` (see api_keys)."""

    def __init__(
        self,
        *,
        vault_url: str,
        credential: TokenCredential,
        breaker: CircuitBreaker,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._client = SecretClient(vault_url, credential)
        self._breaker = breaker
        self._clock = clock
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def key_ring(self) -> KeyRing:
        with self._lock:
            now = self._clock()
            if self._ring is None or now - self._loaded_at > KEYVAULT_CACHE_SECONDS:
                self._ring = guarded(self._breaker, self._load)
                self._loaded_at = now
            return self._ring

    def _load(self) -> KeyRing:
        entries = []
        for secret in self._client.list_properties_of_secrets():
            if secret.name and secret.name.startswith(KEYVAULT_SECRET_PREFIX) and secret.enabled:
                value = self._client.get_secret(secret.name).value
                if value:
                    entries.append(value)
        return KeyRing.from_entries(entries)
