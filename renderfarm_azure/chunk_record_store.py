"""The ChunkRecords port over the ``jobs`` container: each chunk's record (read-modify-write in
renderfarm_azure.chunk_records), read whole or as the summary its metadata carries, and each
chunk's cancel marker."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from azure.storage.blob import ContainerClient

from renderfarm.chunks.record import ChunkSummary
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm_azure import chunk_records
from renderfarm_azure.blob_listing import names_with_metadata
from renderfarm_azure.chunk_records import Mutation, StoredChunkRecord
from renderfarm_azure.guard import guarded

#: Downloads or writes one call runs at once (the SDK's connection pool holds 10).
_PARALLEL = 8


class BlobChunkRecords:
    def __init__(self, *, container: ContainerClient, breaker: CircuitBreaker):
        self._container = container
        self._breaker = breaker

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

    def read_chunk_record(self, job_id: str, index: int) -> StoredChunkRecord | None:
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
        last_written: StoredChunkRecord | None = None,
    ) -> StoredChunkRecord:
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

    def signal_cancel(self, job_id: str, indexes: Sequence[int], *, retry_round: int = 0) -> None:
        """Write the cancel marker of each chunk (again is fine): one small write per chunk that
        was rendering, so each worker polls its own blob and none polls the manifest."""

        def mark(index: int) -> None:
            name = layout.cancel_blob(job_id, index, retry_round=retry_round)
            blob = self._container.get_blob_client(name)
            guarded(self._breaker, lambda: blob.upload_blob(b"", overwrite=True))

        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            list(pool.map(mark, indexes))

    def cancel_signalled(self, job_id: str, index: int, *, retry_round: int = 0) -> bool:
        """Whether the chunk's cancel marker is there: one HEAD of a blob only its worker reads."""
        name = layout.cancel_blob(job_id, index, retry_round=retry_round)
        blob = self._container.get_blob_client(name)
        return bool(guarded(self._breaker, blob.exists))
