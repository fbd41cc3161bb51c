"""Read-modify-write of a chunk record with etag conditions, shared by every writer.

The worker writes a chunk's record as it renders; the API may mark it cancelled and the
dead-letter handler may mark it failed. Each writes only over the version it read and retries
on a conflict, so no writer's change is lost.
"""

from __future__ import annotations

from collections.abc import Callable

from azure.storage.blob import ContainerClient, ContentSettings

from renderfarm.chunks.record import ChunkRecord
from renderfarm.shared import blob_layout
from renderfarm.shared.conditional_update import KeptChanging, update_conditionally
from renderfarm_azure.conditional_blob import read_with_etag, upload_over

WRITE_ATTEMPTS = 8
_JSON = ContentSettings(content_type="application/json")

Mutation = Callable[[ChunkRecord | None], ChunkRecord]
#: A chunk's record as written, with the etag the next conditional write goes over.
StoredChunkRecord = tuple[ChunkRecord, str]


class RecordContention(KeptChanging):
    """The record changed under every attempt: try again later."""


def read_chunk_record(
    jobs: ContainerClient, job_id: str, index: int
) -> tuple[ChunkRecord | None, str | None]:
    """The record and its etag, or (None, None) when no one has written it yet."""
    body, etag = read_with_etag(jobs.get_blob_client(blob_layout.chunk_blob(job_id, index)))
    return (None, None) if body is None else (ChunkRecord.from_json(body), etag)


def update_chunk_record(
    jobs: ContainerClient,
    job_id: str,
    index: int,
    mutate: Mutation,
    *,
    last_written: StoredChunkRecord | None = None,
) -> StoredChunkRecord:
    """Apply ``mutate`` and write; return the record and its new etag. ``last_written`` (what
    this writer wrote last) saves the read when no one else wrote since."""
    blob = jobs.get_blob_client(blob_layout.chunk_blob(job_id, index))

    def write(record: ChunkRecord | None, etag: str | None) -> str:
        assert record is not None  # a mutation always makes a record
        return upload_over(
            blob, record.to_json(), etag, metadata=record.to_metadata(), content_settings=_JSON
        )

    known: tuple[ChunkRecord | None, str | None] | None = last_written
    updated = update_conditionally(
        read=lambda: read_chunk_record(jobs, job_id, index),
        change=mutate,
        write=write,
        attempts=WRITE_ATTEMPTS,
        what=f"chunk record {job_id}/{index}",
        known=known,
        contention=RecordContention,
    )
    assert updated.value is not None and updated.etag is not None
    return updated.value, updated.etag
