"""How long a job took, and where the time went: rendering on workers, or everything else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .farm_api import ChunkProgress, CostView


@dataclass(frozen=True, kw_only=True)
class RenderSummary:
    frames: int
    wall_s: float
    #: Worker time spent on chunks, added up across workers.
    render_s: float
    #: Time during which at least one worker was rendering.
    rendering_span_s: float
    #: The farm's estimate, when it gives one.
    cost: CostView | None = None

    @property
    def overhead_s(self) -> float:
        """Wall time when no worker was rendering: upload, queueing, start-up, download."""
        return max(0.0, self.wall_s - self.rendering_span_s)

    @property
    def overhead_share(self) -> float:
        return self.overhead_s / self.wall_s if self.wall_s > 0 else 0.0

    def lines(self) -> list[str]:
        parallel = self.render_s / self.rendering_span_s if self.rendering_span_s > 0 else 0.0
        return [
            f"frames       {self.frames}",
            f"wall time    {self.wall_s:.1f} s (submit to the last frame on disk)",
            f"render time  {self.render_s:.1f} s on workers, over {self.rendering_span_s:.1f} s"
            f" ({parallel:.1f} workers on average)",
            f"overhead     {self.overhead_s:.1f} s ({self.overhead_share:.0%} of wall time:"
            " upload, queueing, worker start-up, download)",
            self._cost_line(),
        ]

    def _cost_line(self) -> str:
        cost = self.cost
        if cost is None or cost.usd_per_frame is None:
            return "cost         not reported by the farm"
        return (
            f"cost         ${cost.usd_per_frame:.6f} per frame, ${cost.estimated_usd:.4f} in all"
            f" for {cost.worker_seconds:.0f} worker-seconds (estimate, prices of"
            f" {cost.prices_as_of})"
        )


def _intervals(chunks: Sequence[ChunkProgress]) -> list[tuple[datetime, datetime]]:
    return sorted(
        (chunk.started_at, chunk.finished_at)
        for chunk in chunks
        if chunk.started_at is not None
        and chunk.finished_at is not None
        and chunk.finished_at >= chunk.started_at
    )


def union_seconds(intervals: Sequence[tuple[datetime, datetime]]) -> float:
    """Length of the union of sorted intervals."""
    total = 0.0
    current: tuple[datetime, datetime] | None = None
    for start, end in intervals:
        if current is None or start > current[1]:
            if current is not None:
                total += (current[1] - current[0]).total_seconds()
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += (current[1] - current[0]).total_seconds()
    return total


def summarize(
    *,
    frames: int,
    wall_s: float,
    chunks: Sequence[ChunkProgress],
    cost: CostView | None = None,
) -> RenderSummary:
    intervals = _intervals(chunks)
    return RenderSummary(
        frames=frames,
        wall_s=wall_s,
        render_s=sum((end - start).total_seconds() for start, end in intervals),
        rendering_span_s=union_seconds(intervals),
        cost=cost,
    )
