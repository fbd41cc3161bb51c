"""Each tenant's project files in the ``scenes`` container, stored once under their sha256:
which ones the farm lacks (with URLs to upload them), their sizes, the check of every .blend,
and the file sets jobs name. Every name includes the tenant, so no tenant reaches another's."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobSasPermissions, ContainerClient, ContentSettings

from renderfarm.projects.file_set import FileSet
from renderfarm.projects.ports import BlendCheck
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.blend_header import HEAD_BYTES
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm_azure import content_check
from renderfarm_azure.guard import guarded
from renderfarm_azure.sas import SasSigner
from renderfarm_azure.scene_store import UPLOAD_URL_LIFETIME

#: Requests in flight for one call: 1,000 HEADs take about 1,000 / 16 round trips.
PARALLEL_REQUESTS = 16
_JSON = ContentSettings(content_type="application/json")
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, kw_only=True)
class FilesTicket:
    """What the farm lacks of the files asked about, each with a URL to PUT it to."""

    missing: tuple[tuple[str, str], ...]  # (sha256, upload URL)
    present: int
    expires_at: datetime | None


class BlobProjectStore:
    def __init__(
        self, *, container: ContainerClient, signer: SasSigner, breaker: CircuitBreaker
    ) -> None:
        self._container = container
        self._signer = signer
        self._breaker = breaker

    def upload_tickets(self, files: Mapping[str, int], *, tenant: str) -> FilesTicket:
        """For each (sha256 -> size) the tenant lacks, or holds at another size, a URL to PUT
        it to; the count of those it holds already."""
        sizes = self.stored_sizes(list(files), tenant=tenant)
        lacking = sorted(sha for sha, size in files.items() if sizes.get(sha) != size)
        urls: list[tuple[str, str]] = []
        expiry: datetime | None = None
        for sha256 in lacking:
            url, expiry = self._signer.blob_url(
                self._container.container_name,
                layout.file_blob(tenant, sha256),
                permission=BlobSasPermissions(create=True, write=True),
                lifetime=UPLOAD_URL_LIFETIME,
            )
            urls.append((sha256, url))
        return FilesTicket(
            missing=tuple(urls), present=len(files) - len(lacking), expires_at=expiry
        )

    def stored_sizes(self, hashes: Sequence[str], *, tenant: str) -> dict[str, int | None]:
        """The size of each file the tenant has stored; None for one it has not."""

        def size_of(sha256: str) -> int | None:
            blob = self._container.get_blob_client(layout.file_blob(tenant, sha256))
            try:
                return int(guarded(self._breaker, blob.get_blob_properties).size)
            except ResourceNotFoundError:
                return None

        unique = list(dict.fromkeys(hashes))
        return dict(zip(unique, _in_parallel(size_of, unique), strict=True))

    def verify_blends(self, hashes: Sequence[str], *, tenant: str) -> dict[str, BlendCheck]:
        """Hash each stored .blend and check it is whole (once: the verdict is kept in the
        blob's metadata); its first bytes for the header, or what is wrong with it."""
        return dict(
            zip(hashes, _in_parallel(lambda sha: self._verify(sha, tenant), hashes), strict=True)
        )

    def _verify(self, sha256: str, tenant: str) -> BlendCheck:
        blob = self._container.get_blob_client(layout.file_blob(tenant, sha256))
        try:
            content_check.verify(blob, sha256, blend=True, breaker=self._breaker)
        except content_check.Missing:
            return BlendCheck(problem="it is not on the farm: upload it")
        except content_check.Unusable as error:
            return BlendCheck(problem=str(error))
        except content_check.ChangedMeanwhile:
            return BlendCheck(problem="it changed while being checked: try again")
        head = guarded(
            self._breaker, lambda: blob.download_blob(offset=0, length=HEAD_BYTES).readall()
        )
        return BlendCheck(head=head)

    def save_file_set(self, file_set: FileSet, *, tenant: str) -> None:
        """Write the set under its hash. Written again by every job that names it, so the
        blob's last-modified time is when a job last did (what the clean-up reads)."""
        guarded(
            self._breaker,
            lambda: self._container.upload_blob(
                layout.file_set_blob(tenant, file_set.sha256),
                file_set.to_json().encode(),
                overwrite=True,
                content_settings=_JSON,
            ),
        )


def _in_parallel(call: Callable[[T], R], items: Iterable[T]) -> list[R]:
    listed = list(items)
    if len(listed) <= 1:
        return [call(item) for item in listed]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_REQUESTS, len(listed))) as pool:
        return list(pool.map(call, listed))
