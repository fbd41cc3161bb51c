"""A scouted job's quote, from what its scout chunks measured.

The scout chunks are real chunks of the job: what they used is part of its cost, measured. The
rest is the job's planned chunks, each costing what a scout chunk cost beyond its frame and the
scene's opening (taking the message, writing the record, uploading) plus Blender's seconds per
frame for each frame it still renders (a planned chunk skips the scout frames it holds), and
each replica that takes part opens the scene once (a replica keeps it open between chunks of a
job). The worker seconds are priced by the cost model (renderfarm.jobs.cost), as the job's cost
will be once it ends, so the two compare like for like.

The finish time: the planned chunks spread over the pool's maximum replicas as they take them
(each replica takes the next chunk as it frees up), after a replica's cold start and the
scene's opening.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from renderfarm.chunks.plan import FarmCapacity
from renderfarm.chunks.record import ChunkState, ChunkSummary
from renderfarm.chunks.usage import ChunkUsage
from renderfarm.jobs.cost import JobUsage, PriceTable, estimate
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.quote import Quote, ScoutFrame
from renderfarm.jobs.scouting import scout_chunks


@dataclass(frozen=True, kw_only=True)
class ScoutMeasure:
    """What the scout chunks measured, once every one of them is done."""

    frames: tuple[ScoutFrame, ...]
    #: Every scout chunk's usage, added up (the part of the job's cost already spent).
    spent: ChunkUsage
    attempts: int
    #: Blender's seconds per frame.
    seconds_per_frame: float
    #: A chunk's seconds beyond its frames' rendering and the scene's download and opening.
    chunk_overhead_s: float
    #: Download and opening of the scene, as a replica's first chunk of the job pays it.
    open_s: float
    #: Bytes a frame and its thumbnail put in Blob.
    bytes_per_frame: float


def measure_scouts(
    manifest: JobManifest, chunks: Mapping[int, ChunkSummary]
) -> ScoutMeasure | None:
    """None until every scout chunk's record says done."""
    scouts = scout_chunks(manifest)
    summaries = [chunks.get(chunk.index) for chunk in scouts]
    done = [s for s in summaries if s is not None and s.state is ChunkState.DONE]
    if not scouts or len(done) < len(scouts):
        return None
    usages = [s.usage for s in done]
    spent = sum(usages, ChunkUsage())
    rendered = [u.render_s for u in usages if u.render_s > 0]
    opened = [u.open_s + u.download_s for u in usages if u.open_s > 0]
    overheads = [max(0.0, u.worker_s - u.render_s - u.open_s - u.download_s) for u in usages]
    return ScoutMeasure(
        frames=tuple(
            ScoutFrame(frame=chunk.frames[0], seconds=usage.render_s)
            for chunk, usage in zip(scouts, usages, strict=True)
        ),
        spent=spent,
        attempts=sum(s.attempts for s in done),
        seconds_per_frame=sum(rendered) / len(rendered) if rendered else 0.0,
        chunk_overhead_s=sum(overheads) / len(overheads),
        open_s=sum(opened) / len(opened) if opened else 0.0,
        bytes_per_frame=spent.uploaded_bytes / len(scouts),
    )


def quote_job(  # noqa: PLR0913 - keyword-only: the measure and what it is priced against
    manifest: JobManifest,
    measure: ScoutMeasure,
    *,
    capacity: FarmCapacity,
    prices: PriceTable,
    now: datetime,
    expiry: timedelta,
) -> Quote:
    """The whole job's worker seconds, cost and finish time, from its scouts' measure."""
    scouted = set(manifest.spec.scout)
    rest = [
        measure.chunk_overhead_s
        + measure.seconds_per_frame * sum(1 for frame in chunk.frames if frame not in scouted)
        for chunk in manifest.chunks
    ]
    replicas = max(1, min(capacity.replicas, len(rest)))
    worker_s = measure.spent.worker_s + sum(rest) + replicas * measure.open_s
    frames = len(manifest.spec.frames)
    chunks = len(manifest.chunks) + len(measure.frames)
    usage = JobUsage(
        chunks=chunks,
        attempts=measure.attempts + len(manifest.chunks),
        frames=frames,
        worker_s=worker_s,
        render_s=measure.seconds_per_frame * frames,
        stored_bytes=round(measure.bytes_per_frame * frames),
    )
    wall_s = capacity.replica_start_s + measure.open_s + _makespan(rest, replicas)
    return Quote(
        scout_frames=measure.frames,
        seconds_per_frame=measure.seconds_per_frame,
        estimated_worker_seconds=worker_s,
        estimated_usd=estimate(usage, prices).estimated_usd,
        estimated_finish_at=now + timedelta(seconds=wall_s),
        max_replicas=capacity.replicas,
        prices_version=prices.version,
        prices_as_of=prices.as_of,
        quoted_at=now,
        expires_at=now + expiry,
    )


def _makespan(durations: Sequence[float], replicas: int) -> float:
    """When the last of ``durations`` ends if each of ``replicas`` takes the next in turn as
    soon as it is free (the queue hands chunks out in order)."""
    free_at = [0.0] * replicas
    for duration in durations:
        heapq.heappush(free_at, heapq.heappop(free_at) + duration)
    return max(free_at)
