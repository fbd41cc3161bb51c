"""Content-addressed scenes in the ``scenes`` container: upload URLs and hash verification."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobSasPermissions, ContainerClient

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

    def upload_ticket(self, sha256: str, size: int) -> UploadTicket:
        """Say the scene is there (same size), or hand out a short-lived write URL for it."""
        blob = self._container.get_blob_client(layout.scene_blob(sha256))
        try:
            properties = guarded(self._breaker, blob.get_blob_properties)
        except ResourceNotFoundError:
            properties = None
        if properties is not None and properties.size == size:
            return UploadTicket(exists=True, upload_url=None, expires_at=None)
        url, expiry = self._signer.blob_url(
            self._container.container_name,
            layout.scene_blob(sha256),
            permission=BlobSasPermissions(create=True, write=True),
            lifetime=UPLOAD_URL_LIFETIME,
        )
        return UploadTicket(exists=False, upload_url=url, expires_at=expiry)

    def head(self, sha256: str) -> bytes:
        """The scene's first bytes: enough to read its header, compressed or not."""
        blob = self._container.get_blob_client(layout.scene_blob(sha256))
        try:
            return guarded(
                self._breaker, lambda: blob.download_blob(offset=0, length=HEAD_BYTES).readall()
            )
        except ResourceNotFoundError:
            raise SceneNotUsable(f"no scene uploaded with sha256 {sha256}") from None

    def verify(self, sha256: str) -> None:
        """Hash the stored bytes once; a mismatch deletes the blob so it can be uploaded again.

        The verdict is kept in the blob's metadata, which any re-upload (Put Blob) clears.
        """
        blob = self._container.get_blob_client(layout.scene_blob(sha256))
        try:
            properties = guarded(self._breaker, blob.get_blob_properties)
        except ResourceNotFoundError:
            raise SceneNotUsable(f"no scene uploaded with sha256 {sha256}") from None
        if (properties.metadata or {}).get(_VERIFIED) == "true":
            return
        digest = hashlib.sha256()
        download = guarded(
            self._breaker,
            lambda: blob.download_blob(
                etag=properties.etag, match_condition=MatchConditions.IfNotModified
            ),
        )
        for part in download.chunks():
            digest.update(part)
        if digest.hexdigest() != sha256:
            guarded(
                self._breaker,
                lambda: blob.delete_blob(
                    etag=properties.etag, match_condition=MatchConditions.IfNotModified
                ),
            )
            raise SceneNotUsable(
                "the uploaded scene's bytes do not hash to its sha256: upload again"
            )
        try:
            guarded(
                self._breaker,
                lambda: blob.set_blob_metadata(
                    {_VERIFIED: "true"},
                    etag=properties.etag,
                    match_condition=MatchConditions.IfNotModified,
                ),
            )
        except ResourceModifiedError:
            raise SceneNotUsable("the scene changed while being verified: try again") from None
