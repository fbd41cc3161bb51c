"""The AwaitingApprovals port over the ``jobs`` container: one empty blob per quoted job under
``_awaiting/``, named by its quote's expiry so that a listing gives the soonest first and the
timer stops at the first one not due; the tenant in its metadata."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from renderfarm.jobs.awaiting import AwaitingJob
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm_azure.guard import guarded

_TENANT = "tenant"


class BlobAwaitingApprovals:
    def __init__(self, *, container: ContainerClient, breaker: CircuitBreaker):
        self._container = container
        self._breaker = breaker

    def add(self, job: AwaitingJob) -> None:
        blob = self._container.get_blob_client(_name(job))
        metadata = {_TENANT: job.tenant}
        guarded(self._breaker, lambda: blob.upload_blob(b"", overwrite=True, metadata=metadata))

    def due(self, now: datetime, *, limit: int) -> Sequence[AwaitingJob]:
        def listed() -> list[AwaitingJob]:
            found: list[AwaitingJob] = []
            names = self._container.list_blobs(
                name_starts_with=layout.AWAITING_PREFIX, include=["metadata"]
            )
            for item in names:
                parsed = layout.awaiting_of_blob(item.name)
                if parsed is None:
                    continue
                expires_us, job_id = parsed
                if expires_us > _microseconds(now) or len(found) >= limit:
                    break  # names sort by expiry: the rest are later
                tenant = (item.metadata or {}).get(_TENANT, "")
                found.append(
                    AwaitingJob(job_id=job_id, tenant=tenant, expires_at=_moment(expires_us))
                )
            return found

        return guarded(self._breaker, listed)

    def remove(self, job: AwaitingJob) -> None:
        blob = self._container.get_blob_client(_name(job))
        try:
            guarded(self._breaker, blob.delete_blob)
        except ResourceNotFoundError:
            return


def _name(job: AwaitingJob) -> str:
    return layout.awaiting_blob(_microseconds(job.expires_at), job.job_id)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _microseconds(moment: datetime) -> int:
    """Exact (no float): the name written is the name removed."""
    return (moment - _EPOCH) // _MICROSECOND


def _moment(microseconds: int) -> datetime:
    return _EPOCH + microseconds * _MICROSECOND
