"""Each tenant's content-addressed scenes in the ``scenes`` container: upload URLs and hash
verification. Every read and write names the tenant, so one never sees another's scenes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobSasPermissions, ContainerClient

from renderfarm.shared import blob_layout as layout
from renderfarm.shared.blend_header import HEAD_BYTES
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.errors import SceneNotFound, SceneNotUsable
from renderfarm_azure import content_check
from renderfarm_azure.guard import guarded
from renderfarm_azure.sas import SasSigner

UPLOAD_URL_LIFETIME = timedelta(minutes=30)


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
            raise SceneNotFound(f"no scene uploaded with sha256 {sha256}") from None

    def verify(self, sha256: str, *, tenant: str, whole_blend: bool = True) -> None:
        """Hash the stored bytes once and (``whole_blend``) check the .blend is whole; a file
        that fails is deleted so it can be uploaded again (renderfarm_azure.content_check)."""
        blob = self._container.get_blob_client(layout.scene_blob(tenant, sha256))
        try:
            content_check.verify(blob, sha256, blend=whole_blend, breaker=self._breaker)
        except content_check.Missing:
            raise SceneNotFound(f"no scene uploaded with sha256 {sha256}") from None
        except content_check.Unusable as error:
            raise SceneNotUsable(f"the uploaded scene is not usable: {error}") from None
        except content_check.ChangedMeanwhile:
            raise SceneNotUsable("the scene changed while being verified: try again") from None
