"""What the worker reads and writes in Blob Storage, under the names of renderfarm.blob_layout."""

from __future__ import annotations

import logging
from pathlib import Path

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings

from containerapp_worker.errors import SceneError, TransientError
from renderfarm import blob_layout
from renderfarm.chunk_record import ChunkRecord
from renderfarm.manifest import JobManifest
from renderfarm_azure import chunk_records
from renderfarm_azure.chunk_records import Mutation

log = logging.getLogger(__name__)
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "exr": "image/x-exr"}


class WorkerStorage:
    def __init__(self, service: BlobServiceClient, *, scenes: str, jobs: str) -> None:
        self._scenes = service.get_container_client(scenes)
        self._jobs = service.get_container_client(jobs)
        self._written: dict[tuple[str, int], chunk_records.Versioned] = {}

    def download_scene(self, sha256: str, destination: Path, *, tenant: str) -> None:
        """The tenant's scene, the one the API verified when it accepted the job."""
        blob = self._scenes.get_blob_client(blob_layout.scene_blob(tenant, sha256))
        try:
            with destination.open("wb") as handle:
                blob.download_blob(max_concurrency=4).readinto(handle)
        except ResourceNotFoundError as error:
            raise SceneError(f"scene {sha256} is not in the scenes container") from error

    def read_manifest(self, job_id: str) -> JobManifest | None:
        blob = self._jobs.get_blob_client(blob_layout.manifest_blob(job_id))
        try:
            return JobManifest.from_json(blob.download_blob().readall())
        except ResourceNotFoundError:
            return None

    def frames_present(self, job_id: str) -> set[int]:
        names = self._jobs.list_blob_names(name_starts_with=blob_layout.frames_prefix(job_id))
        frames = (blob_layout.frame_of(name, job_id) for name in names)
        return {frame for frame in frames if frame is not None}

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
            written = chunk_records.update_chunk_record(
                self._jobs, job_id, index, mutate, last_written=self._written.get(key)
            )
        except chunk_records.RecordContention as error:
            raise TransientError(str(error)) from error
        self._written = {key: written}  # one chunk at a time: forget the previous one
        return written[0]
