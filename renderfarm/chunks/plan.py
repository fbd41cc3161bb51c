"""How many frames go in a chunk when the client does not say: planned from what earlier renders
of the same scene with the same settings measured, and from the farm's replicas.

Two aims, in this order:

1. **A chunk's fixed cost stays a small share of its time.** Every chunk pays an overhead beyond
   its frames (taking the message, writing its record, settling it): a chunk has at least enough
   frames for that overhead to be ``OVERHEAD_SHARE`` of its time or less.
2. **The job ends soonest with the replicas it can use.** Replicas take chunks in rounds, so a
   size whose last round is part-empty wastes replicas: of the sizes allowed by aim 1, the one
   whose rounds end soonest, and among those within ``NEAR_TIE`` of it, the one nearest to about
   ``CHUNKS_PER_REPLICA`` chunks per replica (replicas that start late, and retries, still find
   work). A replica is only counted as useful when the job holds at least one cold start's worth
   of rendering for it: waking one for less would cost more than it saves.

A replica keeps its scene open between consecutive chunks of a job (the worker's
``ChunkRenderer``), so opening the scene is paid once per replica, not per chunk: it weighs in the
cold start, not in the per-chunk overhead.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from renderfarm.chunks.chunking import MAX_PLANNED_CHUNK_SIZE
from renderfarm.chunks.usage import ChunkUsage
from renderfarm.shared.render_settings import RenderSettings, render_settings_to_dict

#: A chunk's overhead is at most this share of its time.
OVERHEAD_SHARE = 0.05
#: Chunks per useful replica: enough to balance late starters and retries, few enough to send.
CHUNKS_PER_REPLICA = 4
#: Chunk sizes whose job ends within this share of the soonest count as equally soon.
NEAR_TIE = 0.05
#: Each job's measurement counts as at most this many frames in the running average, so a
#: scene that changed (a heavier shot saved under the same name is another sha) or a busy
#: machine's numbers fade within a few jobs.
MAX_REMEMBERED_FRAMES = 500


class PlanSource(StrEnum):
    CLIENT = "client"  # the client gave a chunk size
    MEASURED = "measured"  # from earlier renders of this scene with these settings
    DEFAULT = "default"  # nothing measured yet: spread over the replicas


@dataclass(frozen=True, kw_only=True)
class SceneTimings:
    """What earlier renders of one scene with one set of render settings measured."""

    #: Blender's seconds per frame.
    seconds_per_frame: float
    #: A chunk's seconds beyond its frames' rendering, the scene's download and opening.
    chunk_overhead_s: float
    #: Download and open of the scene, paid by a replica's first chunk of it.
    open_s: float
    #: How many frames these averages stand for (the running average's weight).
    frames: int

    def merged(self, newer: SceneTimings) -> SceneTimings:
        """A running average, weighted by frames, the older side capped so newer jobs count."""
        old = min(self.frames, MAX_REMEMBERED_FRAMES)
        new = max(1, newer.frames)
        total = old + new

        def mean(a: float, b: float) -> float:
            return (a * old + b * new) / total

        return SceneTimings(
            seconds_per_frame=mean(self.seconds_per_frame, newer.seconds_per_frame),
            chunk_overhead_s=mean(self.chunk_overhead_s, newer.chunk_overhead_s),
            open_s=mean(self.open_s, newer.open_s),
            frames=min(total, MAX_REMEMBERED_FRAMES),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str | bytes) -> SceneTimings:
        data: dict[str, Any] = json.loads(body)
        timings = cls(
            seconds_per_frame=float(data["seconds_per_frame"]),
            chunk_overhead_s=float(data["chunk_overhead_s"]),
            open_s=float(data["open_s"]),
            frames=int(data["frames"]),
        )
        if timings.seconds_per_frame <= 0 or timings.frames < 1:
            raise ValueError("timings without a rendered frame")
        return timings


@dataclass(frozen=True, kw_only=True)
class FarmCapacity:
    """The replicas a job can use and what waking one costs."""

    #: The most replicas the job's pool scales to (KEDA's maxReplicas; the local farm's cap).
    replicas: int
    #: Seconds from a scale-out decision to a worker ready for its first message.
    replica_start_s: float


@dataclass(frozen=True, kw_only=True)
class ChunkPlan:
    size: int
    source: PlanSource
    #: One sentence a person reads in the job's status: the size and what it came from.
    reason: str
    #: The measurement the plan used, if any.
    seconds_per_frame: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "source": self.source.value,
            "reason": self.reason,
            "seconds_per_frame": self.seconds_per_frame,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkPlan:
        spf = data.get("seconds_per_frame")
        return cls(
            size=int(data["size"]),
            source=PlanSource(data["source"]),
            reason=str(data["reason"]),
            seconds_per_frame=float(spf) if spf is not None else None,
        )

    @classmethod
    def from_client(cls, size: int) -> ChunkPlan:
        return cls(
            size=size, source=PlanSource.CLIENT, reason=f"{_frames(size)} per chunk, as asked"
        )


def settings_key(settings: RenderSettings) -> str:
    """Names one set of render settings: timings measured under others do not apply."""
    canonical = json.dumps(render_settings_to_dict(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def measured_timings(chunks: Sequence[tuple[int, ChunkUsage]]) -> SceneTimings | None:
    """A finished job's timings from its chunks' usage, as (frames, usage) pairs: None when
    nothing was rendered (every frame was already there, or the records say nothing)."""
    rendered = [(frames, usage) for frames, usage in chunks if usage.render_s > 0 and frames > 0]
    if not rendered:
        return None
    frames = sum(count for count, _ in rendered)
    opened = [u.open_s + u.download_s for _, u in rendered if u.open_s > 0]
    overheads = [max(0.0, u.worker_s - u.render_s - u.open_s - u.download_s) for _, u in rendered]
    return SceneTimings(
        seconds_per_frame=sum(u.render_s for _, u in rendered) / frames,
        chunk_overhead_s=sum(overheads) / len(overheads),
        open_s=sum(opened) / len(opened) if opened else 0.0,
        frames=frames,
    )


def plan_chunks_for(
    frame_count: int, timings: SceneTimings | None, capacity: FarmCapacity
) -> ChunkPlan:
    """The chunk size for a job of ``frame_count`` frames; see the module's docstring."""
    if frame_count < 1:
        raise ValueError("a job has at least one frame")
    most = min(frame_count, MAX_PLANNED_CHUNK_SIZE)
    replicas = max(1, capacity.replicas)
    if timings is None:
        size = _clamp(math.ceil(frame_count / (replicas * CHUNKS_PER_REPLICA)), most)
        return ChunkPlan(
            size=size,
            source=PlanSource.DEFAULT,
            reason=(
                f"{_frames(size)} per chunk: nothing measured yet for this scene and settings, so "
                f"about {CHUNKS_PER_REPLICA} chunks for each of {_replicas(replicas)}"
            ),
        )
    per_frame = max(timings.seconds_per_frame, 1e-3)
    overhead = max(timings.chunk_overhead_s, 0.0)
    # c / (c + n t) <= share  <=>  n >= c (1 - share) / (share t)
    floor = math.ceil(overhead * (1 - OVERHEAD_SHARE) / (OVERHEAD_SHARE * per_frame))
    cold_start = capacity.replica_start_s + timings.open_s
    work = frame_count * per_frame
    useful = max(1, min(replicas, math.floor(work / cold_start) if cold_start > 0 else replicas))
    balanced = frame_count / (useful * CHUNKS_PER_REPLICA)
    sizes = range(_clamp(floor, most), most + 1)
    size = _soonest(
        frame_count,
        sizes,
        replicas=useful,
        per_frame=per_frame,
        overhead=overhead,
        balanced=balanced,
    )
    chunks = math.ceil(frame_count / size)
    why = f"{chunks} chunks over {_replicas(min(useful, chunks))} end soonest"
    if useful < replicas:
        why += f" (of {replicas}: a cold start of {cold_start:.0f} s is not worth more)"
    if size == floor:
        why += f"; overhead {overhead:.2f} s per chunk stays under {OVERHEAD_SHARE:.0%} of it"
    return ChunkPlan(
        size=size,
        source=PlanSource.MEASURED,
        reason=(
            f"{_frames(size)} per chunk: {per_frame:.2f} s per frame measured over "
            f"{timings.frames} frames of this scene; {why}"
        ),
        seconds_per_frame=round(per_frame, 3),
    )


def _soonest(  # noqa: PLR0913 - keyword-only: the wall-time model's inputs
    frames: int, sizes: range, *, replicas: int, per_frame: float, overhead: float, balanced: float
) -> int:
    """The size whose job ends soonest when the replicas take chunks in rounds; among sizes
    within NEAR_TIE of that, the one nearest ``balanced`` (about CHUNKS_PER_REPLICA chunks per
    replica: late starters and retries still find work)."""

    def wall(size: int) -> float:
        rounds = math.ceil(math.ceil(frames / size) / replicas)
        return rounds * (overhead + size * per_frame)

    best = min(wall(size) for size in sizes)
    near = [size for size in sizes if wall(size) <= best * (1 + NEAR_TIE)]
    return min(near, key=lambda size: (abs(math.log(size / balanced)), size))


def _frames(count: int) -> str:
    return f"{count} frame" if count == 1 else f"{count} frames"


def _replicas(count: int) -> str:
    return f"{count} replica" if count == 1 else f"{count} replicas"


def _clamp(size: int, most: int) -> int:
    return max(1, min(size, most))
