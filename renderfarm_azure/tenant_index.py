"""The TenantIndex port over the ``jobs`` container: one empty blob per job under its tenant's
prefix, named so that a listing gives the newest first, its metadata saying how many frames the
job has, in chunks of what size, and whether it is over (for the queued-frames count)."""

from __future__ import annotations

from typing import cast

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.paging import PageIterator
from azure.storage.blob import BlobProperties, ContainerClient

from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.ports import IndexEntry, IndexPage
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.errors import InvalidCursor
from renderfarm_azure.guard import guarded

_TERMINAL = "terminal"
_FRAMES = "frames"
_CHUNK_SIZE = "chunk_size"
_BAD_REQUEST = 400


class BlobTenantIndex:
    def __init__(self, *, container: ContainerClient, breaker: CircuitBreaker):
        self._container = container
        self._breaker = breaker

    def index_job(self, manifest: JobManifest) -> None:
        blob = self._container.get_blob_client(_index_name(manifest))
        metadata = {
            _FRAMES: str(len(manifest.spec.frames)),
            _CHUNK_SIZE: str(manifest.chunk_size),
        }
        guarded(self._breaker, lambda: blob.upload_blob(b"", overwrite=True, metadata=metadata))

    def index_page(self, tenant: str, *, size: int, cursor: str | None) -> IndexPage:
        def page() -> IndexPage:
            pages = cast(
                PageIterator[BlobProperties],
                self._container.list_blobs(
                    name_starts_with=layout.tenant_index_prefix(tenant),
                    include=["metadata"],
                    results_per_page=size,
                ).by_page(continuation_token=cursor),
            )
            try:
                items = list(next(pages, []))
            except HttpResponseError as error:
                if error.status_code == _BAD_REQUEST and cursor is not None:
                    raise InvalidCursor("this cursor was not handed out by this API") from error
                raise
            entries = tuple(_index_entry(item) for item in items)
            return IndexPage(entries=entries, cursor=pages.continuation_token or None)

        return guarded(self._breaker, page)

    def mark_terminal(self, manifest: JobManifest) -> None:
        blob = self._container.get_blob_client(_index_name(manifest))
        metadata = {
            _FRAMES: str(len(manifest.spec.frames)),
            _CHUNK_SIZE: str(manifest.chunk_size),
            _TERMINAL: "true",
        }
        try:
            guarded(self._breaker, lambda: blob.set_blob_metadata(metadata))
        except ResourceNotFoundError:
            return  # indexing failed when the job was made; nothing to mark


def _index_name(manifest: JobManifest) -> str:
    created_us = int(manifest.created_at.timestamp() * 1_000_000)
    return layout.tenant_index_blob(manifest.tenant, manifest.job_id, created_us)


def _index_entry(item: BlobProperties) -> IndexEntry:
    metadata = item.metadata or {}
    return IndexEntry(
        job_id=layout.job_id_of_index_blob(item.name),
        terminal=metadata.get(_TERMINAL) == "true",
        frames_total=int(metadata.get(_FRAMES, "0")),
        chunk_size=max(1, int(metadata.get(_CHUNK_SIZE, "1"))),
    )
