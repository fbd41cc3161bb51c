"""Cancelling a job: its end is recorded at once, its scheduled messages are taken back, and
the workers of its unsettled chunks are told to stop."""

from __future__ import annotations

from renderfarm.chunks.states import is_settled
from renderfarm.jobs.end import JobOutcome
from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.jobs.job_control import JobControl
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.manifest_updates import change_existing
from renderfarm.jobs.ports import (
    ChunkRecords,
)
from renderfarm.jobs.status import JobStatus

#: Tries at writing the cancel when others write the manifest meanwhile.
UPDATE_ATTEMPTS = 5


class JobCancel(JobControl[ChunkRecords]):
    def cancel(self, job_id: str, *, tenant: str) -> tuple[JobManifest, JobStatus]:
        """Cancel the job (again is fine): its end is recorded now, once, and workers stop at
        their next frame. A job that has ended already stays as it ended."""
        manifest, _ = self._statuses.status(job_id, tenant=tenant)  # 404 for another tenant's
        if manifest.outcome is None:
            now = self._clock()
            manifest = change_existing(
                self._manifests,
                job_id,
                lambda m: m.cancelled(now).ended(JobOutcome.CANCELLED, now),
                attempts=UPDATE_ATTEMPTS,
            )
            self._index.mark_terminal(manifest)
            self._backpressure.forget(tenant)
            self._unschedule(manifest)
            if manifest.outcome == JobOutcome.CANCELLED:
                self._events.publish(
                    [
                        JobEvent(
                            type=EventType.JOB_CANCELLED,
                            job_id=manifest.job_id,
                            tenant=manifest.tenant,
                            at=self._clock(),
                            round=manifest.round,
                        )
                    ]
                )
        if manifest.outcome == JobOutcome.CANCELLED:
            # again on a repeated cancel: a crash may have cut it
            self._signal_cancel(job_id, manifest.round)
        return self._statuses.status(job_id, tenant=tenant)

    def _signal_cancel(self, job_id: str, retry_round: int) -> None:
        """Write the cancel marker of every chunk whose record is unsettled, after the manifest
        says cancelled, in the job's retry round (whose workers look there). A worker records
        its chunk's start before it reads the manifest, so a chunk this listing misses started
        after the cancel was written and sees it there."""
        chunks = self._chunks.chunk_summaries(job_id)
        unsettled = [index for index, chunk in chunks.items() if not is_settled(chunk.state)]
        if unsettled:
            self._chunks.signal_cancel(job_id, sorted(unsettled), retry_round=retry_round)

    def _unschedule(self, manifest: JobManifest) -> None:
        """A cancelled job's scheduled messages are taken off the queue; any already due are
        cancelled by their workers, as for any job."""
        if manifest.spec.not_before is None or manifest.spec.not_before <= self._clock():
            return
        scheduled = self._manifests.read_schedule(manifest.job_id)
        if scheduled:
            self._queue.cancel_scheduled(manifest.queue, scheduled)
