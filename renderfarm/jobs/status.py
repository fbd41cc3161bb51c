"""Job status from what Blob Storage holds: the manifest, chunk records and the frames present.

A frame's blob is the truth about that frame. Which frames are present comes from the chunk
records where they can say (renderfarm.jobs.status_reader lists frames only where they cannot); a
record adds what frames cannot say (attempts, errors, a worker that is rendering or gave up).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from renderfarm.chunks.chunking import Chunk
from renderfarm.chunks.record import PROGRESS_EVERY_S, ChunkState, ChunkSummary
from renderfarm.chunks.usage import ChunkUsage
from renderfarm.jobs.manifest import EnqueueState, JobManifest
from renderfarm.jobs.scouting import holds_the_rest, scout_chunks


class JobState(StrEnum):
    SCHEDULED = "scheduled"  # deferred: nothing renders before its not_before
    SCOUTING = "scouting"  # its scout frames render first (renderfarm.jobs.scouting)
    AWAITING_APPROVAL = "awaiting_approval"  # quoted: the rest waits for an approval
    QUEUED = "queued"
    RENDERING = "rendering"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED}


@dataclass(frozen=True, kw_only=True)
class ChunkStatus:
    index: int
    state: ChunkState
    frames_total: int
    frames_done: int
    attempts: int
    last_error: str | None
    blender_version: str | None
    started_at: datetime | None
    finished_at: datetime | None
    #: Worker seconds and bytes the chunk's record carries (renderfarm.jobs.cost prices them).
    usage: ChunkUsage = field(default_factory=ChunkUsage)
    #: What rendered it last: CPU, or a GPU (``OPTIX:NVIDIA H200``).
    render_device: str | None = None
    #: The worker that rendered it last.
    worker_id: str | None = None
    #: Why it waits without starting (``budget``: a spent budget holds it), while pending.
    held: str | None = None


@dataclass(frozen=True, kw_only=True)
class JobStatus:
    job_id: str
    state: JobState
    frames_total: int
    frames_done: int
    frames_failed: int
    chunks: tuple[ChunkStatus, ...]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None
    error: str | None
    frames_present: tuple[int, ...]
    #: Files rendered without (allow_missing), and anything else the user should know.
    warnings: tuple[str, ...] = ()
    #: A scouted job's scout chunks (outside ``chunks``: renderfarm.jobs.scouting).
    scout_chunks: tuple[ChunkStatus, ...] = ()

    @property
    def blender_versions(self) -> tuple[str, ...]:
        """The full versions of the Blenders that rendered its chunks (one, unless redeployed)."""
        return tuple(sorted({c.blender_version for c in self.chunks if c.blender_version}))

    @property
    def held(self) -> str | None:
        """Why the job waits (``budget``): a chunk of it is held, and it has not ended."""
        if self.state.is_terminal:
            return None
        return next((c.held for c in (*self.chunks, *self.scout_chunks) if c.held), None)

    @property
    def poll_after_s(self) -> float | None:
        """How long a client following the job waits before its next read: its status changes
        only as chunk records are rewritten, at most every ``PROGRESS_EVERY_S`` per chunk, so a
        sooner read costs a request for the same answer. None once the job is over."""
        return None if self.state.is_terminal else PROGRESS_EVERY_S

    @property
    def frames_waiting(self) -> int:
        """Frames still to render; zero once the job is over."""
        if self.state.is_terminal:
            return 0
        return self.frames_total - self.frames_done - self.frames_failed


def job_status(
    manifest: JobManifest,
    *,
    chunks: Mapping[int, ChunkSummary],
    errors: Mapping[int, str],
    frames_present: Set[int],
    now: datetime | None = None,
) -> JobStatus:
    """Aggregate a job's status. ``chunks`` and ``errors`` hold what records exist, by index."""
    chunk_statuses = tuple(
        _chunk_status(chunk, chunks.get(chunk.index), errors.get(chunk.index), frames_present)
        for chunk in manifest.chunks
    )
    job_frames = set(manifest.spec.frames)
    done = len(job_frames & frames_present)
    failed = sum(
        c.frames_total - c.frames_done for c in chunk_statuses if c.state is ChunkState.FAILED
    )
    state = _job_state(manifest, chunk_statuses, now)
    started = [c.started_at for c in chunk_statuses if c.started_at is not None]
    finished = [c.finished_at for c in chunk_statuses if c.finished_at is not None]
    return JobStatus(
        job_id=manifest.job_id,
        state=state,
        frames_total=len(manifest.spec.frames),
        frames_done=done,
        frames_failed=failed,
        chunks=chunk_statuses,
        created_at=manifest.created_at,
        started_at=min(started) if started else None,
        finished_at=manifest.finished_at
        or (max(finished) if finished and state.is_terminal else None),
        cancelled_at=manifest.cancelled_at,
        error=manifest.enqueue_error,
        frames_present=tuple(sorted(job_frames & frames_present)),
        warnings=manifest.warnings,
        scout_chunks=tuple(
            _chunk_status(chunk, chunks.get(chunk.index), errors.get(chunk.index), frames_present)
            for chunk in scout_chunks(manifest)
        ),
    )


def _chunk_status(
    chunk: Chunk, summary: ChunkSummary | None, error: str | None, frames_present: Set[int]
) -> ChunkStatus:
    done = sum(1 for frame in chunk.frames if frame in frames_present)
    if done == len(chunk.frames):
        state = ChunkState.DONE  # the frames are the truth, whatever a stale record says
    elif summary is None:
        state = ChunkState.PENDING
    elif summary.state is ChunkState.DONE:
        # Chunk records list before frames and frames are written first: these frames are gone.
        state = ChunkState.FAILED
        error = error or f"{len(chunk.frames) - done} frames missing from a finished chunk"
    else:
        state = summary.state
    return ChunkStatus(
        index=chunk.index,
        state=state,
        frames_total=len(chunk.frames),
        frames_done=done,
        attempts=summary.attempts if summary else 0,
        last_error=error,
        blender_version=summary.blender_version if summary else None,
        started_at=summary.started_at if summary else None,
        finished_at=summary.finished_at if summary else None,
        usage=summary.usage if summary else ChunkUsage(),
        render_device=summary.render_device if summary else None,
        worker_id=summary.worker_id if summary else None,
        held=summary.held if summary and state is ChunkState.PENDING else None,
    )


def _job_state(
    manifest: JobManifest, chunks: tuple[ChunkStatus, ...], now: datetime | None
) -> JobState:
    """How the job ended, once the farm has recorded it; before, the first rule that holds wins
    (all frames present beats a late cancel or a failed send)."""
    if manifest.outcome is not None:
        return JobState(manifest.outcome)
    retry = manifest.retry
    # A retry round under way: the chunks it carried over (done, or cancelled) have ended.
    states = {
        chunk.state for chunk in chunks if retry is None or retry.position(chunk.index) is not None
    }
    not_before = manifest.spec.not_before
    if (
        not_before is not None
        and now is not None
        and now < not_before
        and states == {ChunkState.PENDING}
    ):
        return JobState.SCHEDULED
    if holds_the_rest(manifest) and manifest.enqueue_state is not EnqueueState.FAILED:
        return JobState.SCOUTING if manifest.quote is None else JobState.AWAITING_APPROVAL
    rules = (
        (states == {ChunkState.DONE}, JobState.COMPLETED),
        (manifest.cancelled_at is not None, JobState.CANCELLED),
        (manifest.enqueue_state is EnqueueState.FAILED, JobState.FAILED),
        (ChunkState.CANCELLED in states, JobState.CANCELLED),
        (states <= {ChunkState.DONE, ChunkState.FAILED}, JobState.FAILED),
        (states == {ChunkState.PENDING}, JobState.QUEUED),
    )
    return next((state for holds, state in rules if holds), JobState.RENDERING)
