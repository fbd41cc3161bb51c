"""Short-lived SAS URLs for single blobs: account-key SAS against Azurite (and any account
reached by connection string), user-delegation SAS under managed identity in Azure."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, UserDelegationKey
from azure.storage.blob import generate_blob_sas as _generate_blob_sas

from renderfarm.jobs.ports import SignedLink
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.recently_used import RecentlyUsed
from renderfarm_azure.guard import guarded

DELEGATION_KEY_LIFETIME = timedelta(hours=2)
DELEGATION_KEY_REFRESH_MARGIN = timedelta(minutes=30)
#: Start times a little in the past tolerate clock skew between us and Storage.
CLOCK_SKEW = timedelta(minutes=5)
#: How long links to frames and previews (API answers, dashboard pages) stay valid.
FRAME_URL_LIFETIME = timedelta(hours=1)
#: Signed links kept for reuse (about 300 bytes each).
LINK_CACHE_SIZE = 20_000


class SasSigner:
    def __init__(self, *, service: BlobServiceClient, breaker: CircuitBreaker):
        self._service = service
        self._breaker = breaker
        credential = service.credential
        self._account_key: str | None = getattr(credential, "account_key", None)
        self._delegation_key: UserDelegationKey | None = None
        self._delegation_expiry = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the account's blob endpoint."""
        parts = urlsplit(self._service.url)
        return f"{parts.scheme}://{parts.netloc}"

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


class SasFrameLinks:
    """The FrameLinks port: read SAS URLs to blobs of the jobs container.

    A link is signed once and handed out again while more than half its lifetime is left: a
    status read names up to a page of frames, and signing a hundred of them took a quarter of a
    10,000-frame job's status read (bench/bench_api.py). Every answer still carries a link valid
    for at least half the lifetime.
    """

    def __init__(
        self,
        *,
        signer: SasSigner,
        container: str,
        lifetime: timedelta,
        cached_links: int = LINK_CACHE_SIZE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._signer = signer
        self._container = container
        self._lifetime = lifetime
        self._clock = clock
        self._cache: RecentlyUsed[SignedLink] = RecentlyUsed(cached_links)

    @property
    def origin(self) -> str:
        return self._signer.origin

    def read_link(self, blob: str) -> SignedLink:
        cached = self._cache.get(blob)
        if cached is not None and cached.expires_at > self._clock() + self._lifetime / 2:
            return cached
        url, expiry = self._signer.blob_url(
            self._container,
            blob,
            permission=BlobSasPermissions(read=True),
            lifetime=self._lifetime,
        )
        link = SignedLink(url=url, expires_at=expiry)
        self._cache.put(blob, link)
        return link
