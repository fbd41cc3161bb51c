"""The dashboard's session-signing secret: a setting, else a Key Vault secret made on first use,
else (development only) a random one that lives as long as the process."""

from __future__ import annotations

import logging
import secrets
import threading

from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.secrets import SecretClient

from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.settings import Settings
from renderfarm_azure.guard import guarded
from renderfarm_azure.keyvault import settings_secret_client

log = logging.getLogger(__name__)

#: The vault secret's name (API keys' secrets have their own prefix, so no clash).
SECRET_NAME = "dashboard-session-secret"  # noqa: S105 (a name, not a secret)
SECRET_BYTES = 32


class SessionSecretMissing(RuntimeError):
    """Outside development, neither the setting nor a Key Vault gives a secret."""


class SessionSecret:
    """The secret, fetched once per process (rotating it in the vault ends sessions at the
    next restart of each instance)."""

    def __init__(
        self,
        *,
        settings: Settings,
        breaker: CircuitBreaker,
        client: SecretClient | None = None,
    ):
        self._settings = settings
        self._breaker = breaker
        self._client = client
        self._value: bytes | None = None
        self._lock = threading.Lock()

    def __call__(self) -> bytes:
        with self._lock:
            if self._value is None:
                self._value = self._load()
            return self._value

    def _load(self) -> bytes:
        settings = self._settings
        if settings.dashboard_session_secret:
            return settings.dashboard_session_secret.encode()
        if settings.keyvault_url:
            client = self._client or settings_secret_client(settings)
            return guarded(self._breaker, lambda: _from_vault(client)).encode()
        if settings.environment == "development":
            return secrets.token_bytes(SECRET_BYTES)
        raise SessionSecretMissing(
            "set RENDERFARM_DASHBOARD_SESSION_SECRET or RENDERFARM_KEYVAULT_URL"
        )


def _from_vault(client: SecretClient) -> str:
    """The vault's secret, made if absent. Two instances making it at once each write a
    version; both then read the latest, so they agree."""
    try:
        value = client.get_secret(SECRET_NAME).value
    except ResourceNotFoundError:
        value = None
    if value:
        return value
    log.info("making the dashboard's session secret in Key Vault")
    client.set_secret(SECRET_NAME, secrets.token_urlsafe(SECRET_BYTES), content_type="hmac-key")
    latest = client.get_secret(SECRET_NAME).value
    assert latest  # just written
    return latest
