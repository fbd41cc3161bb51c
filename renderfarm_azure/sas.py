"""Short-lived SAS URLs for single blobs: account-key SAS against Azurite (and any account
reached by connection string), user-delegation SAS under managed identity in Azure."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, UserDelegationKey
from azure.storage.blob import generate_blob_sas as _generate_blob_sas

from renderfarm.circuit_breaker import CircuitBreaker
from renderfarm_azure.guard import guarded

DELEGATION_KEY_LIFETIME = timedelta(hours=2)
DELEGATION_KEY_REFRESH_MARGIN = timedelta(minutes=30)
#: Start times a little in the past tolerate clock skew between us and Storage.
CLOCK_SKEW = timedelta(minutes=5)


class SasSigner:
    def __init__(self, *, service: BlobServiceClient, breaker: CircuitBreaker):
        self._service = service
        self._breaker = breaker
        credential = service.credential
        self._account_key: str | None = getattr(credential, "account_key", None)
        self._delegation_key: UserDelegationKey | None = None
        self._delegation_expiry = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def blob_url(
        self, container: str, blob: str, *, permission: BlobSasPermissions, lifetime: timedelta
    ) -> tuple[str, datetime]:
        """The blob's URL with a SAS granting ``permission`` until the returned expiry."""
        now = datetime.now(UTC)
        expiry = now + lifetime
        signing = (
            {"account_key": self._account_key}
            if self._account_key
            else {"user_delegation_key": self._user_delegation_key(now)}
        )
        token = _generate_blob_sas(
            account_name=self._service.account_name or "",
            container_name=container,
            blob_name=blob,
            permission=permission,
            start=now - CLOCK_SKEW,
            expiry=expiry,
            protocol=None if self._service.url.startswith("http://") else "https",
            **signing,
        )
        base = self._service.url.rstrip("/")
        return f"{base}/{quote(container)}/{quote(blob)}?{token}", expiry

    def _user_delegation_key(self, now: datetime) -> UserDelegationKey:
        with self._lock:
            if self._delegation_key is None or now > (
                self._delegation_expiry - DELEGATION_KEY_REFRESH_MARGIN
            ):
                expiry = now + DELEGATION_KEY_LIFETIME
                self._delegation_key = guarded(
                    self._breaker,
                    lambda: self._service.get_user_delegation_key(now - CLOCK_SKEW, expiry),
                )
                self._delegation_expiry = expiry
            return self._delegation_key
