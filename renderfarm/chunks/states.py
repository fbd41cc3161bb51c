"""The chunk state machine: every change to a chunk record, as a pure function.

    pending --start--> rendering --finish--> done
       ^                  |  |
       |   hand_back /    |  +--fail--> failed      (poison: dead-lettered, never retried)
       +--retry_later-----+
    any unsettled --cancel--> cancelled;  any unsettled --dead_lettered--> failed
    failed or cancelled --requeue (a retry of the job, round n+1)--> pending
    unsettled --hold (a spent budget)--> pending, held; start clears it

Done, failed and cancelled are settled: the chunk's message is gone. A settled record only
changes when the same message comes back (a crash after the record was written but before the
message was settled): ``start`` then reopens a failed chunk, and ``finish`` of a done one is a
no-op, so a redelivery repeats work idempotently instead of failing on it. Or when the job is
retried (renderfarm.jobs.retry): ``requeue`` opens the chunk again in the retry's round, and from
then on a writer that holds a message of an earlier round changes nothing (``is_stale``).

The worker (containerapp_worker/chunk_renderer.py) and the dead-letter handler
(renderfarm_azure/dead_letters.py) write records only through these functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import replace
from datetime import datetime

from renderfarm.chunks.record import ChunkRecord, ChunkState

SETTLED = frozenset({ChunkState.DONE, ChunkState.FAILED, ChunkState.CANCELLED})


def is_settled(state: ChunkState) -> bool:
    return state in SETTLED


def new_record(job_id: str, chunk_index: int) -> ChunkRecord:
    """The record of a chunk no one has written yet."""
    return ChunkRecord(job_id=job_id, chunk_index=chunk_index, state=ChunkState.PENDING)


def is_stale(record: ChunkRecord, retry_round: int) -> bool:
    """Whether a writer of ``retry_round``'s message comes too late: the job was retried since,
    and the record is the later round's."""
    return record.round > retry_round


def requeue(
    record: ChunkRecord, *, retry_round: int, frames: Set[int], at: datetime
) -> ChunkRecord:
    """The job was retried (round ``retry_round``) and this chunk renders again: pending, with
    the frames already in Blob named (they stay, and are skipped). Again is a no-op."""
    if record.round >= retry_round:
        return record
    reopened = replace(
        record, state=ChunkState.PENDING, round=retry_round, updated_at=at, finished_at=None
    )
    return found(reopened, frames)


def start(
    record: ChunkRecord, *, worker_id: str, blender_version: str, at: datetime
) -> ChunkRecord:
    """A worker picked the chunk up: the attempt counts before the work runs, so a crash
    still counts. A done or cancelled chunk stays so (its redelivery finds nothing to do)."""
    if record.state in {ChunkState.DONE, ChunkState.CANCELLED}:
        return record
    return replace(
        record,
        state=ChunkState.RENDERING,
        held=None,
        attempts=record.attempts + 1,
        worker_id=worker_id,
        blender_version=blender_version,
        started_at=record.started_at or at,
        updated_at=at,
        finished_at=None,
    )


def hold(record: ChunkRecord, *, reason: str, at: datetime) -> ChunkRecord:
    """The chunk may not start yet (a spent budget: renderfarm.billing): it waits, pending, and
    says why; no attempt counts. A settled chunk stays so; its next ``start`` clears the hold."""
    if is_settled(record.state) or record.held == reason:
        return record
    return replace(record, state=ChunkState.PENDING, held=reason, updated_at=at)


def progress(record: ChunkRecord, frame_seconds: Mapping[int, float], at: datetime) -> ChunkRecord:
    """Frames uploaded since the last write, with Blender's seconds for each."""
    if not frame_seconds:
        return record
    frames = tuple(sorted({*record.frames_done, *frame_seconds}))
    timings = {**record.frame_seconds, **{f: round(s, 3) for f, s in frame_seconds.items()}}
    return replace(record, frames_done=frames, frame_seconds=timings, updated_at=at)


def found(record: ChunkRecord, frames: Set[int]) -> ChunkRecord:
    """Frames already in Blob when a worker took the chunk up (an earlier attempt uploaded
    them and stopped before it said so): the record names them, without timings."""
    if frames <= set(record.frames_done):
        return record
    return replace(record, frames_done=tuple(sorted({*record.frames_done, *frames})))


def finish(record: ChunkRecord, at: datetime) -> ChunkRecord:
    """Every frame is in Blob (written only after the last upload)."""
    if record.state is ChunkState.DONE:
        return record
    return replace(record, state=ChunkState.DONE, updated_at=at, finished_at=at)


def hand_back(record: ChunkRecord, at: datetime) -> ChunkRecord:
    """The worker stops (scale-in, a lost lock): the next delivery continues the chunk."""
    if is_settled(record.state):
        return record
    return replace(record, state=ChunkState.PENDING, updated_at=at)


def retry_later(record: ChunkRecord, *, error: str, log: str, at: datetime) -> ChunkRecord:
    """A transient failure: the message is abandoned and comes back; the error stays visible."""
    if is_settled(record.state):
        return record
    return replace(record, state=ChunkState.PENDING, updated_at=at).with_error(error).with_log(log)


def fail(record: ChunkRecord, *, error: str, log: str, at: datetime) -> ChunkRecord:
    """A poison failure: the chunk fails wherever it runs, and its message is dead-lettered."""
    if record.state in {ChunkState.DONE, ChunkState.CANCELLED}:
        return record
    failed = replace(record, state=ChunkState.FAILED, updated_at=at, finished_at=at)
    return failed.with_error(error).with_log(log)


def cancel(record: ChunkRecord, at: datetime) -> ChunkRecord:
    """The job was cancelled: the chunk stops between frames; finished chunks stay finished."""
    if is_settled(record.state):
        return record
    return replace(record, state=ChunkState.CANCELLED, updated_at=at, finished_at=at)


def dead_lettered(  # noqa: PLR0913 - keyword-only: what Service Bus says of the letter
    record: ChunkRecord,
    *,
    reason: str,
    description: str,
    delivery_count: int,
    at: datetime,
    retry_round: int = 0,
) -> ChunkRecord:
    """Service Bus gave up on the chunk's message (MaxDeliveryCount, TTL): it failed, unless it
    had finished. A worker that failed it already said why: keep its words. A letter of a round
    the job has been retried past changes nothing."""
    if record.state in {ChunkState.DONE, ChunkState.CANCELLED} or is_stale(record, retry_round):
        return record
    attempts = max(record.attempts, delivery_count)
    if record.state is ChunkState.FAILED and record.last_error:
        return replace(record, attempts=attempts)
    failed = replace(
        record, state=ChunkState.FAILED, attempts=attempts, updated_at=at, finished_at=at
    )
    return failed.with_error(f"{reason}: {description}".strip(": "))
