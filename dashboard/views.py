"""What the pages show of a job: its status (renderfarm.jobs.status, unchanged) formatted for
people.
No state is derived here; only labels, percentages, ages and money."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from renderfarm.chunks.record import ChunkState
from renderfarm.jobs.cost import CostEstimate, job_cost
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.naming import JobLabel
from renderfarm.jobs.ports import FrameLinks
from renderfarm.jobs.status import ChunkStatus, JobState, JobStatus
from renderfarm.shared import blob_layout as layout

#: Each state's symbol: the state reads by shape and word, not by colour alone.
STATE_SYMBOLS = {
    "scheduled": "◷",
    "scouting": "◔",
    "awaiting_approval": "?",
    "queued": "…",
    "pending": "…",
    "rendering": "▶",
    "completed": "✓",
    "done": "✓",
    "failed": "✗",
    "cancelled": "⊘",
}
DASH = "\u2013"  # an en dash: no value yet
#: Thumbnails shown on a job's page (the rest are a download link away).
MAX_THUMBNAILS = 120


@dataclass(frozen=True, kw_only=True)
class JobRow:
    job_id: str
    name: str
    tags: tuple[str, ...]
    submitted_by: str | None
    state: str
    symbol: str
    frames_done: int
    frames_total: int
    percent: int
    failed_chunks: int
    cost: str
    age: str
    created_at: datetime
    active: bool


@dataclass(frozen=True, kw_only=True)
class Thumb:
    frame: int
    thumb_url: str
    frame_url: str


@dataclass(frozen=True, kw_only=True)
class ChunkView:
    index: int
    state: str
    symbol: str
    frames: str
    frames_done: int
    frames_total: int
    attempts: int
    worker: str
    last_error: str | None
    log_tail: str | None
    duration: str


def symbol(state: str) -> str:
    return STATE_SYMBOLS.get(state, "?")


def age(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m ago"
    return f"{seconds // 86400}d ago"


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return DASH
    seconds = (end - start).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    return str(timedelta(seconds=round(seconds)))


def usd(amount: float | None) -> str:
    if amount is None:
        return DASH
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


def percent(done: int, total: int) -> int:
    return int(100 * done / total) if total else 0


def failed_chunks(status: JobStatus) -> int:
    return sum(1 for chunk in status.chunks if chunk.state is ChunkState.FAILED)


def job_row(status: JobStatus, now: datetime, label: JobLabel) -> JobRow:
    estimate = job_cost(status)
    return JobRow(
        job_id=status.job_id,
        name=label.name,
        tags=label.tags,
        submitted_by=label.submitted_by,
        state=status.state.value,
        symbol=symbol(status.state.value),
        frames_done=status.frames_done,
        frames_total=status.frames_total,
        percent=percent(status.frames_done, status.frames_total),
        failed_chunks=failed_chunks(status),
        cost=usd(estimate.estimated_usd if estimate else None),
        age=age(status.created_at, now),
        created_at=status.created_at,
        active=not status.state.is_terminal,
    )


def chunk_views(manifest: JobManifest, status: JobStatus, logs: dict[int, str]) -> list[ChunkView]:
    ranges = {chunk.index: chunk.frames for chunk in manifest.chunks}
    return [
        _chunk_view(chunk, ranges.get(chunk.index, ()), logs.get(chunk.index))
        for chunk in status.chunks
    ]


def _chunk_view(chunk: ChunkStatus, frames: tuple[int, ...], log_tail: str | None) -> ChunkView:
    shown = f"{frames[0]}-{frames[-1]}" if len(frames) > 1 else (str(frames[0]) if frames else "")
    return ChunkView(
        index=chunk.index,
        state=chunk.state.value,
        symbol=symbol(chunk.state.value),
        frames=shown,
        frames_done=chunk.frames_done,
        frames_total=chunk.frames_total,
        attempts=chunk.attempts,
        worker=chunk.worker_id or DASH,
        last_error=chunk.last_error,
        log_tail=log_tail or None,
        duration=duration(chunk.started_at, chunk.finished_at),
    )


def troubled(status: JobStatus) -> list[int]:
    """The chunks whose errors the page shows (failed, or retried after a failure)."""
    return [chunk.index for chunk in status.chunks if chunk.last_error]


def thumbnails(manifest: JobManifest, status: JobStatus, links: FrameLinks) -> list[Thumb]:
    return [
        Thumb(
            frame=frame,
            thumb_url=links.read_link(layout.thumb_blob(manifest.job_id, frame)).url,
            frame_url=links.read_link(
                layout.frame_blob(manifest.job_id, frame, manifest.output_extension)
            ).url,
        )
        for frame in spread(status.frames_present, MAX_THUMBNAILS)
    ]


def spread(frames: tuple[int, ...], most: int) -> tuple[int, ...]:
    """At most ``most`` of ``frames``, evenly over all of them, the first and the last among
    them: frames land coarse to fine (preview-first), so a long shot's filmstrip shows its
    whole length as it fills in, not only its start."""
    if len(frames) <= most:
        return frames
    if most < 2:
        return frames[:most]
    last = len(frames) - 1
    return tuple(frames[round(i * last / (most - 1))] for i in range(most))


def cost_lines(estimate: CostEstimate | None) -> list[tuple[str, str]]:
    if estimate is None:
        return []
    return [
        ("Compute (worker replicas)", usd(estimate.compute_usd)),
        ("Service Bus operations", usd(estimate.bus_usd)),
        ("Blob operations", usd(estimate.blob_operations_usd)),
        ("Frame storage (a month)", usd(estimate.storage_usd)),
        ("Total (estimate)", usd(estimate.estimated_usd)),
        ("Per frame", usd(estimate.usd_per_frame)),
    ]


STATE_FILTERS = tuple(state.value for state in JobState)
