"""What only the worker does in Blob Storage: download scenes, upload frames, write its chunk's
record. Every read of the ``jobs`` container (manifests, frames present, chunk records, cancel
markers) goes through ``jobs``, the stores the API shares (renderfarm_azure/job_store.py)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobServiceClient, ContentSettings

from containerapp_worker.errors import SceneError, TransientError
from renderfarm.chunks.record import ChunkRecord
from renderfarm.shared import blob_layout
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm_azure import chunk_records
from renderfarm_azure.chunk_records import Mutation
from renderfarm_azure.job_store import BlobJobStores

log = logging.getLogger(__name__)
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "exr": "image/x-exr"}


class WorkerStorage:
    def __init__(self, service: BlobServiceClient, *, scenes: str, jobs: str) -> None:
        self._scenes = service.get_container_client(scenes)
        self._jobs = service.get_container_client(jobs)
        self.jobs = BlobJobStores.in_container(container=self._jobs, breaker=_never_open())
        self._written: dict[tuple[str, int], chunk_records.StoredChunkRecord] = {}

    def download_scene(self, sha256: str, destination: Path, *, tenant: str) -> None:
        """The tenant's scene, the one the API verified when it accepted the job."""
        blob = self._scenes.get_blob_client(blob_layout.scene_blob(tenant, sha256))
        try:
            with destination.open("wb") as handle:
                blob.download_blob(max_concurrency=4).readinto(handle)
        except ResourceNotFoundError as error:
            raise SceneError(f"scene {sha256} is not in the scenes container") from error

    def download_file_set(self, sha256: str, *, tenant: str) -> bytes | None:
        """The file set's JSON as the API wrote it, or None when it is not stored."""
        blob = self._scenes.get_blob_client(blob_layout.file_set_blob(tenant, sha256))
        try:
            return bytes(blob.download_blob().readall())
        except ResourceNotFoundError:
            return None

    def download_file(self, sha256: str, destination: Path, *, tenant: str) -> str | None:
        """One file of the tenant's projects, written to ``destination``; the blob's etag (for
        a conditional delete when its bytes turn out wrong), or None when it is not stored."""
        blob = self._scenes.get_blob_client(blob_layout.file_blob(tenant, sha256))
        try:
            with destination.open("wb") as handle:
                download = blob.download_blob(max_concurrency=4)
                download.readinto(handle)
        except ResourceNotFoundError:
            return None
        return str(download.properties.etag)

    def delete_file(self, sha256: str, *, tenant: str, etag: str) -> bool:
        """Delete the tenant's file blob if it is still the one read (``etag``): a good copy
        uploaded since is left alone. True when this call deleted it."""
        blob = self._scenes.get_blob_client(blob_layout.file_blob(tenant, sha256))
        try:
            blob.delete_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
        except (ResourceNotFoundError, ResourceModifiedError):
            return False
        return True

    def upload_frame(self, job_id: str, frame: int, extension: str, path: Path) -> bool:
        """Write the frame's blob unless an earlier delivery did; True when this call wrote it."""
        written = self._upload_once(
            blob_layout.frame_blob(job_id, frame, extension), path, extension
        )
        status = "uploaded" if written else "already-uploaded"
        log.info(
            "frame %d %s", frame, status, extra={"job_id": job_id, "frame": frame, "status": status}
        )
        return written

    def upload_thumbnail(self, job_id: str, frame: int, path: Path) -> None:
        self._upload_once(blob_layout.thumb_blob(job_id, frame), path, "jpg")

    def _upload_once(self, name: str, path: Path, extension: str) -> bool:
        """A frame's blob is written once: a redelivery that finds it there leaves it be."""
        settings = ContentSettings(
            content_type=CONTENT_TYPES.get(extension, "application/octet-stream")
        )
        with path.open("rb") as data:
            try:
                self._jobs.upload_blob(name, data, overwrite=False, content_settings=settings)
            except ResourceExistsError:
                return False
        return True

    def update_chunk_record(self, job_id: str, index: int, mutate: Mutation) -> ChunkRecord:
        """Write the chunk's record; the worker is its usual only writer, so the version it wrote
        last usually still stands and the read is skipped."""
        key = (job_id, index)
        try:
            written = self.jobs.chunks.update_chunk_record(
                job_id, index, mutate, last_written=self._written.get(key)
            )
        except chunk_records.RecordContention as error:
            raise TransientError(str(error)) from error
        self._written = {key: written}  # one chunk at a time: forget the previous one
        return written[0]


def _never_open() -> CircuitBreaker:
    """The worker has no client to shed load for: a chunk that fails fast on an open breaker
    would burn its deliveries (MaxDeliveryCount) in seconds, so every call goes to Azure and
    fails only after the SDK's own retries."""
    return CircuitBreaker(
        name="blob storage", threshold=sys.maxsize, open_seconds=0.0, clock=time.monotonic
    )
