"""Read-modify-write of a chunk record with etag conditions, shared by every writer.

The worker writes a chunk's record as it renders; the API may mark it cancelled and the
dead-letter handler may mark it failed. Each writes only over the version it read and retries
on a conflict, so no writer's change is lost.
"""

from __future__ import annotations

from collections.abc import Callable

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings

from renderfarm import blob_layout
from renderfarm.chunk_record import ChunkRecord

WRITE_ATTEMPTS = 8
_JSON = ContentSettings(content_type="application/json")

Mutation = Callable[[ChunkRecord | None], ChunkRecord]


class RecordContention(RuntimeError):
    """The record changed under every attempt: try again later."""


def read_chunk_record(
    jobs: ContainerClient, job_id: str, index: int
) -> tuple[ChunkRecord | None, str | None]:
    """The record and its etag, or (None, None) when no one has written it yet."""
    blob = jobs.get_blob_client(blob_layout.chunk_blob(job_id, index))
    try:
        downloader = blob.download_blob()
    except ResourceNotFoundError:
        return None, None
    return ChunkRecord.from_json(downloader.readall()), downloader.properties.etag


Versioned = tuple[ChunkRecord, str]


def update_chunk_record(
    jobs: ContainerClient,
    job_id: str,
    index: int,
    mutate: Mutation,
    *,
    last_written: Versioned | None = None,
) -> Versioned:
    """Apply ``mutate`` and write; return the record and its new etag. ``last_written`` (what
    this writer wrote last) saves the read when no one else wrote since."""
    blob = jobs.get_blob_client(blob_layout.chunk_blob(job_id, index))
    current: ChunkRecord | None = last_written[0] if last_written else None
    etag: str | None = last_written[1] if last_written else None
    for attempt in range(WRITE_ATTEMPTS):
        if attempt or last_written is None:
            current, etag = read_chunk_record(jobs, job_id, index)
        record = mutate(current)
        try:
            if etag is None:  # first write: only if still absent
                written = blob.upload_blob(
                    record.to_json(), metadata=record.to_metadata(), content_settings=_JSON
                )
            else:  # only over the version we read
                written = blob.upload_blob(
                    record.to_json(),
                    overwrite=True,
                    metadata=record.to_metadata(),
                    content_settings=_JSON,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            return record, str(written["etag"])
        except (ResourceExistsError, ResourceModifiedError):
            continue
    raise RecordContention(f"chunk record {job_id}/{index} kept changing")
