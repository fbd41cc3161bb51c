"""The JobStore port over the ``jobs`` container: the one adapter that knows its names and reads
them, for the API, the worker and the dead-letter handler alike (the worker's own uploads are in
containerapp_worker/storage.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.core.paging import PageIterator
from azure.storage.blob import BlobProperties, ContainerClient, ContentSettings

from renderfarm import blob_layout as layout
from renderfarm.chunk_plan import SceneTimings
from renderfarm.chunk_record import ChunkSummary
from renderfarm.circuit_breaker import CircuitBreaker
from renderfarm.errors import ConcurrentUpdate, InvalidCursor
from renderfarm.manifest import JobManifest
from renderfarm.ports import IndexEntry, IndexPage, Versioned
from renderfarm.recently_used import RecentlyUsed
from renderfarm_azure import chunk_records
from renderfarm_azure.blob_listing import names_with_metadata
from renderfarm_azure.chunk_records import Mutation
from renderfarm_azure.guard import guarded

_JSON = ContentSettings(content_type="application/json")
_TERMINAL = "terminal"
_FRAMES = "frames"
_CHUNK_SIZE = "chunk_size"
_BAD_REQUEST = 400
_NOT_MODIFIED = 304
#: Listings or writes one call runs at once (the SDK's connection pool holds 10).
_PARALLEL = 8
#: Parsed manifests kept per process (a 10,000-frame one holds about 0.5 MB).
MANIFESTS_KEPT = 64


class BlobJobStore:
    def __init__(self, *, container: ContainerClient, breaker: CircuitBreaker):
        self._container = container
        self._breaker = breaker
        # Parsed manifests by etag: a 10,000-frame job's manifest is 60 KB of JSON whose
        # parse took a tenth of its status read; reads of an unchanged one get a 304.
        self._manifests: RecentlyUsed[Versioned] = RecentlyUsed(MANIFESTS_KEPT)

    def create_manifest(self, manifest: JobManifest) -> str | None:
        blob = self._container.get_blob_client(layout.manifest_blob(manifest.job_id))
        try:
            written = guarded(
                self._breaker,
                lambda: blob.upload_blob(
                    manifest.to_json(), overwrite=False, content_settings=_JSON
                ),
            )
        except ResourceExistsError:
            return None
        self._manifests.put(manifest.job_id, Versioned(manifest=manifest, etag=written["etag"]))
        return str(written["etag"])

    def read_scene_timings(self, tenant: str, sha256: str, settings: str) -> SceneTimings | None:
        blob = self._container.get_blob_client(layout.scene_timings_blob(tenant, sha256, settings))
        try:
            body = guarded(self._breaker, lambda: blob.download_blob().readall())
            return SceneTimings.from_json(body)
        except ResourceNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: plan as if nothing was measured, the next job rewrites it

    def record_scene_timings(
        self, tenant: str, sha256: str, settings: str, measured: SceneTimings
    ) -> None:
        """Last writer wins: two jobs of one scene ending together lose one's average, which
        the next job's measurement makes up for."""
        earlier = self.read_scene_timings(tenant, sha256, settings)
        merged = earlier.merged(measured) if earlier else measured
        blob = self._container.get_blob_client(layout.scene_timings_blob(tenant, sha256, settings))
        guarded(
            self._breaker,
            lambda: blob.upload_blob(merged.to_json(), overwrite=True, content_settings=_JSON),
        )

    def read_manifest(self, job_id: str) -> Versioned | None:
        if not layout.is_job_id(job_id):
            return None
        blob = self._container.get_blob_client(layout.manifest_blob(job_id))
        known = self._manifests.get(job_id)
        try:
            if known is None:
                download = guarded(self._breaker, blob.download_blob)
            else:  # unchanged since we parsed it: a 304 with no body
                download = guarded(
                    self._breaker,
                    lambda: blob.download_blob(
                        etag=known.etag, match_condition=MatchConditions.IfModified
                    ),
                )
            body = guarded(self._breaker, download.readall)
        except ResourceNotFoundError:
            self._manifests.forget(job_id)
            return None
        except HttpResponseError as error:
            # 304: the SDK raises ResourceNotModifiedError, or ResourceModifiedError when the
            # answer says ConditionNotMet (Azurite does).
            if known is None or error.status_code != _NOT_MODIFIED:
                raise
            return known
        versioned = Versioned(manifest=JobManifest.from_json(body), etag=download.properties.etag)
        self._manifests.put(job_id, versioned)
        return versioned

    def replace_manifest(self, manifest: JobManifest, etag: str) -> str:
        blob = self._container.get_blob_client(layout.manifest_blob(manifest.job_id))
        try:
            written = guarded(
                self._breaker,
                lambda: blob.upload_blob(
                    manifest.to_json(),
                    overwrite=True,
                    content_settings=_JSON,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                ),
            )
        except ResourceModifiedError as error:
            raise ConcurrentUpdate(manifest.job_id) from error
        self._manifests.put(manifest.job_id, Versioned(manifest=manifest, etag=written["etag"]))
        return str(written["etag"])

    def update_manifest(
        self, job_id: str, change: Callable[[JobManifest], JobManifest], *, attempts: int
    ) -> JobManifest | None:
        """Apply ``change`` to the manifest as stored and write it over its etag, reading again
        when someone wrote meanwhile; the manifest as it then stands (None: no such job).
        A change that returns the manifest itself writes nothing. ConcurrentUpdate after
        ``attempts`` lost races."""
        for _ in range(attempts):
            current = self.read_manifest(job_id)
            if current is None:
                return None
            changed = change(current.manifest)
            if changed is current.manifest:
                return changed
            try:
                self.replace_manifest(changed, current.etag)
            except ConcurrentUpdate:
                continue
            return changed
        raise ConcurrentUpdate(f"the manifest of job {job_id} kept changing")

    def chunk_summaries(self, job_id: str) -> dict[int, ChunkSummary]:
        def listing() -> dict[int, ChunkSummary]:
            chunks: dict[int, ChunkSummary] = {}
            prefix = layout.chunks_prefix(job_id)
            for name, metadata in names_with_metadata(self._container, prefix):
                index = layout.chunk_index_of(name, job_id)
                summary = ChunkSummary.from_metadata(metadata)
                if index is not None and summary is not None:
                    chunks[index] = summary
            return chunks

        return guarded(self._breaker, listing)

    def frames_present(
        self, job_id: str, name_prefixes: Sequence[str] | None = None
    ) -> frozenset[int]:
        base = layout.frames_prefix(job_id)

        def listing(prefix: str) -> frozenset[int]:
            names = self._container.list_blob_names(name_starts_with=base + prefix)
            return frozenset(
                frame for name in names if (frame := layout.frame_of(name, job_id)) is not None
            )

        if name_prefixes is None:
            return guarded(self._breaker, lambda: listing(""))
        if len(name_prefixes) == 1:
            return guarded(self._breaker, lambda: listing(name_prefixes[0]))
        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            found = pool.map(lambda p: guarded(self._breaker, lambda: listing(p)), name_prefixes)
            return frozenset().union(*found)

    def frames_in(self, job_id: str, frames: Sequence[int]) -> frozenset[int]:
        """Which of ``frames`` (one chunk's) have their blobs: listings by name prefix, at most
        one per frame and usually one in all, whatever the job's size. The blobs are the truth,
        so a frame uploaded just before a crash counts even if no record says so yet."""
        wanted = frozenset(frames)
        found = self.frames_present(job_id, layout.chunk_frame_prefixes(frames))
        return found & wanted

    def read_chunk_record(self, job_id: str, index: int) -> chunk_records.Versioned | None:
        """The chunk's record and its etag; None when no one has written it yet."""
        record, etag = guarded(
            self._breaker, lambda: chunk_records.read_chunk_record(self._container, job_id, index)
        )
        return None if record is None or etag is None else (record, etag)

    def update_chunk_record(
        self,
        job_id: str,
        index: int,
        mutate: Mutation,
        *,
        last_written: chunk_records.Versioned | None = None,
    ) -> chunk_records.Versioned:
        """Read-modify-write of the chunk's record over its etag (chunk_records.py); raises
        RecordContention when it kept changing."""
        return guarded(
            self._breaker,
            lambda: chunk_records.update_chunk_record(
                self._container, job_id, index, mutate, last_written=last_written
            ),
        )

    def chunk_errors(self, job_id: str, indexes: Sequence[int]) -> dict[int, str]:
        def read(index: int) -> tuple[int, str | None]:
            try:
                found = self.read_chunk_record(job_id, index)
            except (ValueError, KeyError, TypeError):
                return index, "the chunk record is unreadable"
            return index, found[0].last_error if found else None

        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            return {index: error for index, error in pool.map(read, indexes) if error}

    def chunk_logs(self, job_id: str, indexes: Sequence[int]) -> dict[int, str]:
        """Blender's last log lines of these chunks' records (a download each)."""

        def read(index: int) -> tuple[int, str]:
            try:
                found = self.read_chunk_record(job_id, index)
            except (ValueError, KeyError, TypeError):
                return index, ""
            return index, found[0].log_tail if found else ""

        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            return {index: tail for index, tail in pool.map(read, indexes) if tail}

    def signal_cancel(self, job_id: str, indexes: Sequence[int]) -> None:
        """Write the cancel marker of each chunk (again is fine): one small write per chunk that
        was rendering, so each worker polls its own blob and none polls the manifest."""

        def mark(index: int) -> None:
            blob = self._container.get_blob_client(layout.cancel_blob(job_id, index))
            guarded(self._breaker, lambda: blob.upload_blob(b"", overwrite=True))

        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            list(pool.map(mark, indexes))

    def cancel_signalled(self, job_id: str, index: int) -> bool:
        """Whether the chunk's cancel marker is there: one HEAD of a blob only its worker reads."""
        blob = self._container.get_blob_client(layout.cancel_blob(job_id, index))
        return bool(guarded(self._breaker, blob.exists))

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

    def save_schedule(self, job_id: str, sequence_numbers: Sequence[int]) -> None:
        blob = self._container.get_blob_client(layout.schedule_blob(job_id))
        body = json.dumps({"sequence_numbers": list(sequence_numbers)})
        guarded(
            self._breaker,
            lambda: blob.upload_blob(body, overwrite=True, content_settings=_JSON),
        )

    def read_schedule(self, job_id: str) -> tuple[int, ...]:
        blob = self._container.get_blob_client(layout.schedule_blob(job_id))
        try:
            body = guarded(self._breaker, lambda: blob.download_blob().readall())
        except ResourceNotFoundError:
            return ()
        return tuple(int(n) for n in json.loads(body)["sequence_numbers"])

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
