"""The farm against bare Blender, as bench_farm reports it: each run's figures, the median of the
rounds, each round's farm paired with its own bare Blender, and where a farm's CPU went."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Run:
    name: str
    wall_s: float  # to the last frame on disk, or in Blob
    first_frame_s: float
    frame_seconds: list[float]
    chunk_size: int | None = None
    note: str = ""
    #: CPU seconds of each of the farm's processes from the job's submission to its last frame.
    cpu_s: dict[str, float] = field(default_factory=dict)
    #: Blender's process's CPU seconds: bare's over its frames, the workers' from the job's
    #: submission to its last frame (opening the scene and the uploads included).
    blender_cpu_s: float = 0.0

    @property
    def per_frame_s(self) -> float:
        return statistics.fmean(self.frame_seconds)

    @property
    def beside_workers_cpu_s(self) -> float:
        """The CPU seconds of everything but the workers: the emulated Azure services, the API,
        the consumers and this process (the follower and the autoscaler)."""
        return sum(cpu for name, cpu in self.cpu_s.items() if not name.startswith("worker"))


def combined_run(runs: list[Run], average: Callable[[Iterable[float]], float]) -> Run:
    """One run of ``average``s (the mean of a round's two bare runs, the median of rounds):
    wall times, first frames, and Blender's seconds per frame."""
    return Run(
        name=runs[0].name,
        wall_s=average(run.wall_s for run in runs),
        first_frame_s=average(run.first_frame_s for run in runs),
        frame_seconds=[average(run.per_frame_s for run in runs)],
        chunk_size=runs[0].chunk_size,
        note=runs[0].note,
        cpu_s={name: average(run.cpu_s.get(name, 0.0) for run in runs) for name in runs[0].cpu_s},
        blender_cpu_s=average(run.blender_cpu_s for run in runs),
    )


def paired(rounds: list[list[Run]], column: int) -> dict[str, float]:
    """The farm in ``column`` against the same round's bare Blender, as the median over rounds of
    each round's own ratio (and difference): a round's two sides ran minutes apart, so pairing
    them keeps the drift between rounds out of the figure."""
    return {
        "wall_ratio": statistics.median(r[column].wall_s / r[0].wall_s for r in rounds),
        "frame_ratio": statistics.median(r[column].per_frame_s / r[0].per_frame_s for r in rounds),
        "first_frame_over_bare_s": statistics.median(
            r[column].first_frame_s - r[0].first_frame_s for r in rounds
        ),
        "beside_workers_cpu_share": statistics.median(_beside_share(r[column]) for r in rounds),
        # Whether Blender needed more CPU in the worker than alone for the same frames.
        "blender_cpu_ratio": statistics.median(
            r[column].blender_cpu_s / r[0].blender_cpu_s for r in rounds
        ),
    }


def _beside_share(run: Run) -> float:
    """What ran beside the workers, as a share of every core's time over the job."""
    return run.beside_workers_cpu_s / ((os.cpu_count() or 1) * run.wall_s)


def cpu_line(run: Run, bare: Run) -> str:
    """Where the CPU went during a farm's job, beside its workers' and theirs (and bare
    Blender's on the same frames)."""
    beside = sorted(
        ((cpu, name) for name, cpu in run.cpu_s.items() if not name.startswith("worker")),
        reverse=True,
    )
    return (
        f"  {run.name}, CPU-s from submission to last frame: beside the workers "
        f"{run.beside_workers_cpu_s:.2f} ({_beside_share(run):.1%} of the cores' time: "
        + ", ".join(f"{name} {cpu:.2f}" for cpu, name in beside)
        + f"); workers {run.blender_cpu_s:.1f} (bare Blender, its frames alone: "
        f"{bare.blender_cpu_s:.1f})"
    )


def report(frames: int, rounds: list[list[Run]], *, scene: str, setup: str) -> str:
    """A table of medians (the ratios paired by round), then one JSON line."""
    medians = [
        combined_run([runs[column] for runs in rounds], statistics.median)
        for column in range(len(rounds[0]))
    ]
    lines = [
        f"{frames} frames of {scene} {setup}, "
        f"medians of {len(rounds)} alternating rounds (ratios: the median of each round's own)",
        f"{'':<28} {'wall s':>8} {'ratio':>6} {'first s':>8} {'+s':>6} {'s/frame':>8} "
        f"{'ratio':>6}  chunk",
    ]
    for column, run in enumerate(medians):
        against = paired(rounds, column)
        chunk = f"{run.chunk_size}" if run.chunk_size else "-"
        lines.append(
            f"{run.name:<28} {run.wall_s:8.1f} {against['wall_ratio']:6.3f} "
            f"{run.first_frame_s:8.2f} {against['first_frame_over_bare_s']:+6.2f} "
            f"{run.per_frame_s:8.3f} {against['frame_ratio']:6.2f}  {chunk}"
            + (f"  ({run.note})" if run.note else "")
        )
    lines.extend(cpu_line(run, medians[0]) for run in medians[1:])
    summary = {
        "frames": frames,
        "rounds": len(rounds),
        "bare_wall_s": round(medians[0].wall_s, 2),
        "bare_first_frame_s": round(medians[0].first_frame_s, 2),
        **{
            f"farm_{run.name.split()[1]}w": {
                name: round(value, 3) for name, value in paired(rounds, column).items()
            }
            for column, run in enumerate(medians)
            if column > 0
        },
    }
    return "\n".join([*lines, json.dumps(summary)])
