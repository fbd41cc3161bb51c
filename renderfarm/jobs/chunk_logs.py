"""Reading a chunk attempt's Blender log (``GET /api/jobs/{id}/chunks/{n}/log``, the dashboard's
log page): the tenant's own job, a chunk it has, the attempt asked for or the latest one."""

from __future__ import annotations

from dataclasses import dataclass

from renderfarm.chunks.logs import (
    AttemptNotFound,
    ChunkLog,
    ChunkLogNotFound,
    ChunkLogStore,
    ChunkNotFound,
    LogUnchanged,
)
from renderfarm.jobs.ports import ManifestStore
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.errors import JobNotFound


@dataclass(frozen=True, kw_only=True)
class LogRead:
    """An attempt's log (None when it is still the version the reader has, ``etag``), and
    every attempt at the chunk that has a log (empty when not listed: the log was unchanged)."""

    attempt: int
    etag: str
    log: ChunkLog | None
    attempts: tuple[int, ...] = ()


class ChunkLogReader:
    def __init__(self, *, manifests: ManifestStore, logs: ChunkLogStore) -> None:
        self._manifests = manifests
        self._logs = logs

    def read(
        self,
        job_id: str,
        chunk_index: int,
        *,
        tenant: str,
        attempt: int | None = None,
        unless_etag: str | None = None,
    ) -> LogRead:
        """The log of ``attempt`` (default: the latest). JobNotFound for no such job and for
        another tenant's; ChunkNotFound for a chunk the job lacks; AttemptNotFound for an
        attempt without a log; ChunkLogNotFound for a chunk no worker has started."""
        self._check_chunk(job_id, chunk_index, tenant=tenant)
        attempts: tuple[int, ...] = ()
        if attempt is None:
            attempts = tuple(self._logs.log_attempts(job_id, chunk_index))
            if not attempts:
                raise ChunkLogNotFound(f"chunk {chunk_index} has not started yet")
            attempt = attempts[-1]
        found = self._logs.read_log(job_id, chunk_index, attempt, unless_etag=unless_etag)
        if found is None:
            raise AttemptNotFound(f"chunk {chunk_index} has no log of attempt {attempt}")
        if isinstance(found, LogUnchanged):
            return LogRead(attempt=attempt, etag=found.etag, log=None)
        if not attempts:
            attempts = tuple(self._logs.log_attempts(job_id, chunk_index))
        return LogRead(attempt=attempt, etag=found.etag, log=found, attempts=attempts)

    def _check_chunk(self, job_id: str, chunk_index: int, *, tenant: str) -> None:
        stored = self._manifests.read_manifest(job_id) if layout.is_job_id(job_id) else None
        if stored is None or stored.manifest.tenant != tenant:
            raise JobNotFound(job_id)
        if not any(chunk.index == chunk_index for chunk in stored.manifest.chunks):
            raise ChunkNotFound(f"job {job_id} has no chunk {chunk_index}")
