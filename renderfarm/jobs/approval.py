"""Approving a quoted job: the approval is written once into its manifest, then the rest of the
job (every planned chunk) is sent.

A person approves through ``POST /api/jobs/{id}/approve`` (JobApproval); the farm approves on its
own when the quote is under the job's approve_below_usd, in the same write that records the
quote (renderfarm.jobs.scout_settlement). Either way whoever finds the job approved and its rest
not yet sent sends it (RestOfJob): approving again, or a scout chunk's redelivered settle,
finishes what a crash cut short. Sending twice is harmless: the queue's duplicate detection
drops a message-id it has seen, and a chunk that renders again finds its frames in Blob.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from renderfarm.jobs.awaiting import AwaitingApprovals, AwaitingJob
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.manifest_updates import change_existing
from renderfarm.jobs.ports import ChunkQueue, ManifestStore
from renderfarm.jobs.scouting import approved, is_approved, is_awaiting, rest_enqueued
from renderfarm.jobs.status import JobStatus
from renderfarm.jobs.status_reader import JobStatusReader
from renderfarm.shared.errors import DependencyUnavailable, DomainError

log = logging.getLogger(__name__)

#: Tries at writing the approval when others write the manifest meanwhile.
UPDATE_ATTEMPTS = 5


class NotAwaitingApproval(DomainError, RuntimeError):
    """Only a job whose quote waits for an approval can be approved (again is fine)."""

    status, slug, title = 409, "not-awaiting-approval", "Job not awaiting approval"

    def problem_extra(self) -> Mapping[str, Any]:
        return {"state": self.state}

    def __init__(self, job_id: str, state: str):
        super().__init__(f"job {job_id} is {state}: only a job awaiting approval can be approved")
        self.state = state


class RestOfJob:
    """Sends an approved job's planned chunks, once they are due, and says so in its manifest."""

    def __init__(self, *, manifests: ManifestStore, queue: ChunkQueue):
        self._manifests = manifests
        self._queue = queue

    def send(self, manifest: JobManifest, trace_context: Mapping[str, str]) -> JobManifest:
        """Send unless it is sent, not approved, or over (a cancel stops it). Raises
        DependencyUnavailable when Service Bus does not take them: send again later."""
        record = manifest.quote
        if record is None or record.rest_enqueued or not is_approved(manifest):
            return manifest
        if manifest.outcome is not None:
            return manifest
        self._queue.send(manifest.queue, manifest.messages(), trace_context)
        log.info("rest of job %s sent", manifest.job_id, extra={"job_id": manifest.job_id})
        return change_existing(
            self._manifests, manifest.job_id, rest_enqueued, attempts=UPDATE_ATTEMPTS
        )


class JobApproval:
    def __init__(
        self,
        *,
        manifests: ManifestStore,
        statuses: JobStatusReader,
        rest: RestOfJob,
        awaiting: AwaitingApprovals,
        clock: Callable[[], datetime],
    ):
        self._manifests = manifests
        self._statuses = statuses
        self._rest = rest
        self._awaiting = awaiting
        self._clock = clock

    def approve(
        self, job_id: str, *, tenant: str, trace_context: Mapping[str, str]
    ) -> tuple[JobManifest, JobStatus]:
        """Approve the job's quote and send the rest (again is fine: it sends what is not
        sent). JobNotFound for another tenant's job; NotAwaitingApproval unless it is quoted
        and neither over nor approved already."""
        manifest, status = self._statuses.status(job_id, tenant=tenant)
        if not is_approved(manifest):
            if not is_awaiting(manifest):
                raise NotAwaitingApproval(job_id, status.state.value)
            now = self._clock()
            manifest = change_existing(
                self._manifests, job_id, lambda m: approved(m, now), attempts=UPDATE_ATTEMPTS
            )
            if not is_approved(manifest):  # cancelled, or expired, since the read
                _, status = self._statuses.status(job_id, tenant=tenant)
                raise NotAwaitingApproval(job_id, status.state.value)
            log.info("job %s approved", job_id, extra={"job_id": job_id, "tenant": tenant})
        self._rest.send(manifest, trace_context)
        self._forget(manifest)
        return self._statuses.status(job_id, tenant=tenant)

    def send_approved_rest(self, manifest: JobManifest) -> JobManifest:
        """The rest of a job the farm approved (under approve_below_usd), if not sent yet: the
        events consumer's step on ``job.quoted``."""
        return self._rest.send(manifest, {})

    def _forget(self, manifest: JobManifest) -> None:
        """Off the expiry timer's list (best effort: the timer skips an approved job)."""
        if manifest.quote is None:
            return
        entry = AwaitingJob(
            job_id=manifest.job_id,
            tenant=manifest.tenant,
            expires_at=manifest.quote.quote.expires_at,
        )
        try:
            self._awaiting.remove(entry)
        except DependencyUnavailable:
            log.warning("could not take job %s off the awaiting list", manifest.job_id)
