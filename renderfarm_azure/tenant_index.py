"""The TenantIndex port over the ``jobs`` container: one empty blob per job under its tenant's
prefix, named so that a listing gives the newest first, its metadata saying how many frames the
job has, in chunks of what size, whether it is over (for the queued-frames count), and its name
and tags (so a list filters by them without reading each job's manifest).

Metadata values are ASCII (they travel as HTTP headers): a name is percent-encoded UTF-8, tags
(ASCII by their grammar, renderfarm.jobs.naming) are joined by commas, which no tag holds. An
entry written before names has neither, and says so (``IndexEntry.name`` None). Later changes
(the end, a new name) merge into the metadata over its etag, so neither undoes the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast
from urllib.parse import quote, unquote

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.paging import PageIterator
from azure.storage.blob import BlobClient, BlobProperties, ContainerClient

from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.ports import IndexEntry, IndexPage
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.conditional_update import update_conditionally
from renderfarm.shared.errors import InvalidCursor
from renderfarm_azure.conditional_blob import set_metadata_over
from renderfarm_azure.guard import guarded

_TERMINAL = "terminal"
_FRAMES = "frames"
_CHUNK_SIZE = "chunk_size"
_NAME = "name"
_TAGS = "tags"
_BAD_REQUEST = 400
#: Tries at merging into an entry's metadata while others write it.
_MERGE_ATTEMPTS = 5

Metadata = dict[str, str]


class BlobTenantIndex:
    def __init__(self, *, container: ContainerClient, breaker: CircuitBreaker):
        self._container = container
        self._breaker = breaker

    def index_job(self, manifest: JobManifest) -> None:
        blob = self._container.get_blob_client(_index_name(manifest))
        metadata = {**_plan(manifest), **_label(manifest)}
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
        def over(metadata: Metadata) -> Metadata:
            named = {} if _NAME in metadata else _label(manifest)  # an entry from before names
            return {**metadata, **_plan(manifest), _TERMINAL: "true", **named}

        self._merge(manifest, over)

    def relabel(self, manifest: JobManifest) -> None:
        def named(metadata: Metadata) -> Metadata:
            kept = {k: v for k, v in metadata.items() if k not in {_NAME, _TAGS}}
            return {**kept, **_plan(manifest), **_label(manifest)}

        self._merge(manifest, named)

    def _merge(self, manifest: JobManifest, change: Callable[[Metadata], Metadata]) -> None:
        """``change`` the entry's metadata over its etag; nothing when there is no entry
        (indexing failed when the job was made)."""
        blob = self._container.get_blob_client(_index_name(manifest))

        def read() -> tuple[Metadata | None, str | None]:
            try:
                properties = guarded(self._breaker, blob.get_blob_properties)
            except ResourceNotFoundError:
                return None, None
            return dict(properties.metadata or {}), str(properties.etag)

        def changed(metadata: Metadata | None) -> Metadata | None:
            if metadata is None:
                return None
            new = change(metadata)
            return metadata if new == metadata else new

        update_conditionally(
            read=read,
            change=changed,
            write=lambda metadata, etag: self._write(blob, metadata, etag),
            attempts=_MERGE_ATTEMPTS,
            what=f"the index entry of job {manifest.job_id}",
        )

    def _write(self, blob: BlobClient, metadata: Metadata | None, etag: str | None) -> str:
        assert metadata is not None and etag is not None  # only an entry read is changed
        try:
            return guarded(self._breaker, lambda: set_metadata_over(blob, metadata, etag))
        except ResourceNotFoundError:  # removed meanwhile: nothing left to note
            return etag


def _index_name(manifest: JobManifest) -> str:
    created_us = int(manifest.created_at.timestamp() * 1_000_000)
    return layout.tenant_index_blob(manifest.tenant, manifest.job_id, created_us)


def _plan(manifest: JobManifest) -> Metadata:
    return {_FRAMES: str(len(manifest.spec.frames)), _CHUNK_SIZE: str(manifest.chunk_size)}


def _label(manifest: JobManifest) -> Metadata:
    """The name and tags as metadata (no ``tags`` when there are none)."""
    label = manifest.label
    metadata = {_NAME: quote(label.name, safe="")}
    if label.tags:
        metadata[_TAGS] = ",".join(label.tags)
    return metadata


def _index_entry(item: BlobProperties) -> IndexEntry:
    metadata = item.metadata or {}
    named = _NAME in metadata
    return IndexEntry(
        job_id=layout.job_id_of_index_blob(item.name),
        terminal=metadata.get(_TERMINAL) == "true",
        frames_total=int(metadata.get(_FRAMES, "0")),
        chunk_size=max(1, int(metadata.get(_CHUNK_SIZE, "1"))),
        name=unquote(metadata[_NAME]) if named else None,
        tags=tuple(t for t in metadata.get(_TAGS, "").split(",") if t) if named else None,
    )
