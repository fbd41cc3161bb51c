"""Retrying a job: an ended job renders again only the chunks that failed (and, if asked, those
its cancel stopped), in a new round (renderfarm.jobs.retry_round); its frames already in Blob
stay, and its end is recorded anew.

The order makes every step safe to repeat, and a retry that stops midway is finished by the next
call: the manifest goes first (over its etag: of two calls at once, one starts the round, and the
other finds it under way), then the round's chunk records go back to pending, the job's index
entry is active again, the round's messages are sent (their ids name the round, so a repeat is
dropped by the queue and no earlier message is taken for a copy), the ``job.retried`` event is
sent, and last the manifest says the round is enqueued. A call that finds a round under way and
not yet enqueued does those steps again, and changes nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from renderfarm.chunks import states as chunk_states
from renderfarm.chunks.record import ChunkRecord, ChunkState
from renderfarm.jobs.end import JobOutcome, code_of
from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.jobs.job_control import JobControl
from renderfarm.jobs.manifest import EnqueueState, JobManifest
from renderfarm.jobs.manifest_updates import change_existing, update_manifest
from renderfarm.jobs.retry_round import RetryRound, new_round
from renderfarm.jobs.status import JobStatus
from renderfarm.shared.errors import DomainError, JobNotFound

log = logging.getLogger(__name__)

#: Tries at writing the manifest when others write it meanwhile.
UPDATE_ATTEMPTS = 5
#: Chunk records written at once when a round opens its chunks again.
REQUEUE_THREADS = 8


class RetryOutcome(StrEnum):
    """What a retry call did."""

    RETRIED = "retried"  # a new round renders the job's failed chunks
    ALREADY_RETRYING = "already_retrying"  # a round was under way: nothing changed
    COMPLETED = "completed"  # the job completed: nothing to retry
    NOTHING_FAILED = "nothing_failed"  # it ended with no failed chunk (cancelled ones not asked)


class JobNotEnded(DomainError, RuntimeError):
    """Only an ended job is retried: one still rendering keeps its chunks' own retries."""

    status, slug, title = 409, "job-not-ended", "Job has not ended"

    def problem_extra(self) -> Mapping[str, Any]:
        return {"state": self.state}

    def __init__(self, job_id: str, state: str):
        super().__init__(f"job {job_id} is {state}: only an ended job can be retried")
        self.state = state


class ChunkRecordWrites(Protocol):
    """Conditional updates of a chunk's record (renderfarm_azure.chunk_record_store)."""

    def update_chunk_record(
        self, job_id: str, index: int, mutate: Callable[[ChunkRecord | None], ChunkRecord]
    ) -> object: ...


@dataclass(frozen=True, kw_only=True)
class Retried:
    """The call's answer: what it did, and the job as it now stands."""

    outcome: RetryOutcome
    manifest: JobManifest
    status: JobStatus

    @property
    def frames(self) -> int:
        """Frames the job's current round renders again (none before its first retry)."""
        retry = self.manifest.retry
        if retry is None:
            return 0
        chunks = self.manifest.chunks
        return sum(len(chunks[index].frames) for index in retry.chunks)


def chunks_to_retry(
    manifest: JobManifest, status: JobStatus, *, include_cancelled: bool
) -> tuple[list[int], list[str]]:
    """The chunks an ended job renders again, and the ledger codes of the others. A failed job's
    chunks that are not done all failed (or never got a message); a cancelled job's failed
    chunks render again, and those the cancel stopped only when ``include_cancelled``."""
    cancelled_job = manifest.outcome == JobOutcome.CANCELLED
    again: list[int] = []
    kept: list[str] = []
    for chunk in status.chunks:
        if chunk.state is ChunkState.DONE:
            kept.append(code_of(ChunkState.DONE))
        elif cancelled_job and chunk.state is not ChunkState.FAILED and not include_cancelled:
            kept.append(code_of(ChunkState.CANCELLED))
        else:
            again.append(chunk.index)
    return again, kept


class JobRetry(JobControl[ChunkRecordWrites]):
    def retry(
        self,
        job_id: str,
        *,
        tenant: str,
        include_cancelled: bool,
        trace_context: Mapping[str, str],
    ) -> Retried:
        """Render the ended job's failed chunks again (JobNotEnded for one still running that
        was never retried; JobNotFound for another tenant's)."""
        manifest, status = self._statuses.status(job_id, tenant=tenant)
        if manifest.outcome is None:
            if manifest.retry is None:
                raise JobNotEnded(job_id, status.state.value)
            if manifest.enqueue_state is EnqueueState.ENQUEUING:
                # An earlier call stopped midway (its process died, Service Bus failed): finish
                # it; each step finds its work done or does it.
                self._start(manifest, status, trace_context)
            return self._answer(RetryOutcome.ALREADY_RETRYING, job_id, tenant)
        if manifest.outcome == JobOutcome.COMPLETED:
            return Retried(outcome=RetryOutcome.COMPLETED, manifest=manifest, status=status)
        again, kept = chunks_to_retry(manifest, status, include_cancelled=include_cancelled)
        if not again:
            return Retried(outcome=RetryOutcome.NOTHING_FAILED, manifest=manifest, status=status)
        chunks = manifest.chunks
        frames = sum(len(chunks[index].frames) for index in again)
        self._backpressure.check(tenant, asked=frames)
        retry_round = new_round(
            number=manifest.round + 1,
            chunks=again,
            carried_codes=kept,
            include_cancelled=include_cancelled,
            at=self._clock(),
            previous_outcome=manifest.outcome,
        )
        opened = self._open_round(manifest, retry_round)
        if opened is None:
            return self._answer(RetryOutcome.ALREADY_RETRYING, job_id, tenant)
        self._backpressure.accepted(tenant, frames)
        self._start(opened, status, trace_context)
        log.info(
            "job %s retried: round %d, %d chunks",
            job_id,
            retry_round.number,
            len(again),
            extra={"job_id": job_id, "tenant": tenant},
        )
        return self._answer(RetryOutcome.RETRIED, job_id, tenant)

    def _open_round(self, ended: JobManifest, retry_round: RetryRound) -> JobManifest | None:
        """Write the round into the manifest over the ended version; None when another call
        started a round first."""
        updated = update_manifest(
            self._manifests,
            ended.job_id,
            lambda m: (
                m.retried(retry_round) if m.outcome is not None and m.round == ended.round else m
            ),
            attempts=UPDATE_ATTEMPTS,
        )
        if updated.value is None:
            raise JobNotFound(ended.job_id)
        return updated.value if updated.wrote else None

    def _start(self, manifest: JobManifest, status: JobStatus, trace: Mapping[str, str]) -> None:
        """Every step after the manifest, each safe to repeat."""
        retry = manifest.retry
        assert retry is not None
        self._requeue(manifest, retry, frozenset(status.frames_present))
        self._index.index_job(manifest)  # active again: the queued-frames count includes it
        messages = [
            replace(message, round=retry.number)
            for message in manifest.messages()
            if retry.position(message.chunk_index) is not None
        ]
        not_before = manifest.spec.not_before
        if not_before is not None and not_before > self._clock():
            scheduled = self._queue.schedule(manifest.queue, messages, trace, at=not_before)
            self._manifests.save_schedule(manifest.job_id, scheduled)
        else:
            self._queue.send(manifest.queue, messages, trace)
        self._events.publish([self._retried_event(manifest, retry)])
        change_existing(
            self._manifests,
            manifest.job_id,
            lambda m: (
                m.enqueued()
                if m.round == retry.number and m.enqueue_state is EnqueueState.ENQUEUING
                else m
            ),
            attempts=UPDATE_ATTEMPTS,
        )

    def _requeue(self, manifest: JobManifest, retry: RetryRound, present: frozenset[int]) -> None:
        """The round's chunk records back to pending, in its round, with the frames already in
        Blob named (a chunk's worker skips them)."""
        job_id, now, chunks = manifest.job_id, self._clock(), manifest.chunks

        def requeue(index: int) -> None:
            frames = present.intersection(chunks[index].frames)
            self._chunks.update_chunk_record(
                job_id,
                index,
                lambda current: chunk_states.requeue(
                    current or chunk_states.new_record(job_id, index),
                    retry_round=retry.number,
                    frames=frames,
                    at=now,
                ),
            )

        with ThreadPoolExecutor(max_workers=REQUEUE_THREADS) as pool:
            list(pool.map(requeue, retry.chunks))

    def _retried_event(self, manifest: JobManifest, retry: RetryRound) -> JobEvent:
        return JobEvent(
            type=EventType.JOB_RETRIED,
            job_id=manifest.job_id,
            tenant=manifest.tenant,
            at=retry.at,
            detail={
                "round": retry.number,
                "chunks": len(retry.chunks),
                "frames": sum(len(manifest.chunks[i].frames) for i in retry.chunks),
                "include_cancelled": retry.include_cancelled,
                "previous_outcome": retry.previous_outcome,
            },
            round=retry.number,
        )

    def _answer(self, outcome: RetryOutcome, job_id: str, tenant: str) -> Retried:
        manifest, status = self._statuses.status(job_id, tenant=tenant)
        return Retried(outcome=outcome, manifest=manifest, status=status)
