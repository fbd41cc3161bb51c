"""The worker's billing, composed once per replica: the usage recorder its chunk attempts (and
the jobs' ends it records) add to. Budgets look here too."""

from __future__ import annotations

import uuid

from containerapp_worker.chunk_attempt import ChunkAttempt
from renderfarm.billing.recording import UsageRecorder
from renderfarm.chunks.record import ChunkState
from renderfarm.shared.settings import Settings
from renderfarm_azure import billing_stores


def usage_recorder(settings: Settings) -> UsageRecorder | None:
    """None where no table account is configured: the replica then keeps no usage."""
    return billing_stores.usage_recorder(settings)


def record_attempt(recorder: UsageRecorder, attempt: ChunkAttempt, *, worker_id: str) -> None:
    """What the ended ``attempt`` wrote into its chunk's record, added to its tenant's usage
    under the attempt's number. Nothing when it wrote nothing (its start was never written, or
    came too late for a retried job)."""
    timer, manifest = attempt.timer, attempt.manifest
    start = timer.start
    if manifest is None or start is None:
        return
    number = str(start.attempts)
    if start.state is not ChunkState.RENDERING:
        # A redelivery of a settled chunk did not count as an attempt: its (short) time
        # still went into the record, under a name of its own.
        number = f"{start.attempts}.{uuid.uuid4().hex[:8]}"
    recorder.attempt_ended(
        manifest,
        chunk_index=attempt.message.chunk_index,
        attempt=number,
        usage=timer.written,
        frames=timer.frames_written,
        writer=worker_id,
    )
