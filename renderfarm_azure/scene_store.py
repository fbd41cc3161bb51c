"""Each tenant's content-addressed scenes in the ``scenes`` container: upload URLs and hash
verification. Every read and write names the tenant, so one never sees another's scenes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobSasPermissions, ContainerClient

from renderfarm import blob_layout as layout
from renderfarm.blend_header import HEAD_BYTES
from renderfarm.circuit_breaker import CircuitBreaker
from renderfarm.errors import SceneNotUsable
from renderfarm_azure.guard import guarded
from renderfarm_azure.sas import SasSigner

UPLOAD_URL_LIFETIME = timedelta(minutes=30)
_VERIFIED = "sha256_verified"
_READ_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class UploadTicket:
    exists: bool
    upload_url: str | None
    expires_at: datetime | None


class BlobSceneStore:
    def __init__(self, *, container: ContainerClient, signer: SasSigner, breaker: CircuitBreaker):
        self._container = container
        self._signer = signer
        self._breaker = breaker

    def upload_ticket(self, sha256: str, size: int, *, tenant: str) -> UploadTicket:
        """Say the tenant's scene is there (same size), or hand out a short-lived URL to PUT it."""
        name = layout.scene_blob(tenant, sha256)
        blob = self._container.get_blob_client(name)
        try:
            properties = guarded(self._breaker, blob.get_blob_properties)
        except ResourceNotFoundError:
            properties = None
        if properties is not None and properties.size == size:
            return UploadTicket(exists=True, upload_url=None, expires_at=None)
        url, expiry = self._signer.blob_url(
            self._container.container_name,
            name,
            permission=BlobSasPermissions(create=True, write=True),
            lifetime=UPLOAD_URL_LIFETIME,
        )
        return UploadTicket(exists=False, upload_url=url, expires_at=expiry)

    def head(self, sha256: str, *, tenant: str) -> bytes:
        """The scene's first bytes: enough to read its header, compressed or not."""
        blob = self._container.get_blob_client(layout.scene_blob(tenant, sha256))
        try:
            return guarded(
                self._breaker, lambda: blob.download_blob(offset=0, length=HEAD_BYTES).readall()
            )
        except ResourceNotFoundError:
            raise SceneNotUsable(f"no scene uploaded with sha256 {sha256}") from None

    def verify(self, sha256: str, *, tenant: str) -> None:
        """Hash the stored bytes once; a mismatch deletes the blob so it can be uploaded again.

        The verdict is kept in the blob's metadata, which any re-upload (Put Blob) clears.
        """
        blob = self._container.get_blob_client(layout.scene_blob(tenant, sha256))
        try:
            properties = guarded(self._breaker, blob.get_blob_properties)
        except ResourceNotFoundError:
            raise SceneNotUsable(f"no scene uploaded with sha256 {sha256}") from None
        if (properties.metadata or {}).get(_VERIFIED) == "true":
            return
        try:
            self._hash_and_mark(blob, sha256, properties.etag)
        except ResourceModifiedError:
            # Another request verifying the same bytes may have marked them first (a re-upload
            # would have cleared the mark): only a change of the bytes themselves is a failure.
            if not self._marked_verified(blob):
                raise SceneNotUsable("the scene changed while being verified: try again") from None

    def _hash_and_mark(self, blob: BlobClient, sha256: str, etag: str) -> None:
        """Hash the bytes as they were at ``etag``; mark them verified, or delete them."""
        digest = hashlib.sha256()
        unchanged = MatchConditions.IfNotModified
        download = guarded(
            self._breaker, lambda: blob.download_blob(etag=etag, match_condition=unchanged)
        )
        for part in download.chunks():
            digest.update(part)
        if digest.hexdigest() != sha256:
            guarded(self._breaker, lambda: blob.delete_blob(etag=etag, match_condition=unchanged))
            raise SceneNotUsable(
                "the uploaded scene's bytes do not hash to its sha256: upload again"
            )
        guarded(
            self._breaker,
            lambda: blob.set_blob_metadata(
                {_VERIFIED: "true"}, etag=etag, match_condition=unchanged
            ),
        )

    def _marked_verified(self, blob: BlobClient) -> bool:
        try:
            properties = guarded(self._breaker, blob.get_blob_properties)
        except ResourceNotFoundError:
            return False
        return (properties.metadata or {}).get(_VERIFIED) == "true"
