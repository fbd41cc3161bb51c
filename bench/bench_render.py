"""How much of a farm's wall time is rendering: the same frames of the example scene rendered
(1) in one bare bpy process and (2) with a fresh bpy process per chunk, as most farms do.

Each measurement is a function ``(BenchConfig) -> Measurement`` in ``MEASUREMENTS``; the warm
worker's figure is added the same way. Every time includes process start-up, ``import bpy`` and
opening the scene, because a farm pays them too. Ratios are against the bare process.

    .venv/bin/python bench/bench_render.py [--frames 48] [--chunk-size 8] [--blend PATH]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_BLEND = REPO_ROOT / "examples" / "example.blend"
CHILD = "--render-in-this-process"


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    blend: Path
    frames: int
    chunk_size: int
    out_dir: Path


@dataclass(frozen=True, kw_only=True)
class Measurement:
    name: str
    seconds: float
    processes: int


def _chunks(config: BenchConfig) -> list[tuple[int, int]]:
    """(first, last) frame of each chunk, inclusive, frames numbered from 1."""
    starts = range(1, config.frames + 1, config.chunk_size)
    return [(first, min(first + config.chunk_size - 1, config.frames)) for first in starts]


def _render_in_child(config: BenchConfig, first: int, last: int, out_dir: Path) -> None:
    command = [sys.executable, __file__, CHILD, str(config.blend), str(first), str(last)]
    subprocess.run([*command, str(out_dir)], check=True, capture_output=True, cwd=REPO_ROOT)


def measure_bare_bpy(config: BenchConfig) -> Measurement:
    """All frames in one bpy process: the floor any farm design can reach."""
    out_dir = config.out_dir / "bare"
    started = time.perf_counter()
    _render_in_child(config, 1, config.frames, out_dir)
    return Measurement(
        name="bare bpy, one process", seconds=time.perf_counter() - started, processes=1
    )


def measure_process_per_chunk(config: BenchConfig) -> Measurement:
    """A new bpy process per chunk, one after another, as a task-per-process farm runs them."""
    out_dir = config.out_dir / "per-chunk"
    chunks = _chunks(config)
    started = time.perf_counter()
    for first, last in chunks:
        _render_in_child(config, first, last, out_dir)
    return Measurement(
        name=f"bpy process per chunk of {config.chunk_size}",
        seconds=time.perf_counter() - started,
        processes=len(chunks),
    )


def report(config: BenchConfig, measurements: list[Measurement]) -> str:
    bare = measurements[0].seconds
    lines = [f"{config.frames} frames of {config.blend.name}"]
    for m in measurements:
        lines.append(
            f"{m.name:<34} {m.seconds:7.2f} s  {m.seconds / config.frames:6.3f} s/frame  "
            f"{m.processes:3d} process(es)  ratio to bare {m.seconds / bare:5.2f}"
        )
    return "\n".join(lines)


def render_frames(blend: Path, first: int, last: int, out_dir: Path) -> None:
    """The child's work: the worker's own Blender code (scripts off, the same settings applied),
    without the farm around it."""
    sys.path.insert(0, str(REPO_ROOT))
    from containerapp_worker.blender_runner import BlenderRunner  # noqa: PLC0415 - loads bpy
    from renderfarm.shared.render_settings import RenderSettings  # noqa: PLC0415

    runner = BlenderRunner()
    runner.open_scene(blend)
    runner.apply(RenderSettings())
    for frame in range(first, last + 1):
        runner.render_frame(frame, out_dir / f"{frame:04d}.png")


def measure_warm_worker(config: BenchConfig) -> Measurement:
    """The farm itself: a job submitted to the API, its chunks through the Service Bus emulator
    to one warm `python -m containerapp_worker`, every frame uploaded to Azurite. Timed from the
    submission to the last frame in Blob; the replica is already up, as a scaled-out one is."""
    sys.path.insert(0, str(REPO_ROOT))
    from bench.farm_harness import warm_worker_seconds  # noqa: PLC0415 - the farm's imports

    seconds = warm_worker_seconds(
        blend=config.blend,
        frames=config.frames,
        chunk_size=config.chunk_size,
        scratch=config.out_dir / "farm",
    )
    return Measurement(
        name=f"warm worker, chunks of {config.chunk_size}", seconds=seconds, processes=1
    )


def _ensure_example(blend: Path) -> None:
    if not blend.exists():
        script = REPO_ROOT / "examples" / "make_example_scene.py"
        subprocess.run([sys.executable, str(script), str(blend)], check=True, capture_output=True)


MEASUREMENTS: list[Callable[[BenchConfig], Measurement]] = [
    measure_bare_bpy,
    measure_process_per_chunk,
    measure_warm_worker,
]


def main(argv: list[str]) -> None:
    if argv and argv[0] == CHILD:
        blend, first, last, out_dir = argv[1:]
        render_frames(Path(blend), int(first), int(last), Path(out_dir))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--chunk-size", type=int, default=8)
    parser.add_argument("--blend", type=Path, default=EXAMPLE_BLEND)
    args = parser.parse_args(argv)
    _ensure_example(args.blend)
    with tempfile.TemporaryDirectory(prefix="bench-render-") as out_dir:
        config = BenchConfig(
            blend=args.blend.resolve(),
            frames=args.frames,
            chunk_size=args.chunk_size,
            out_dir=Path(out_dir),
        )
        print(report(config, [measure(config) for measure in MEASUREMENTS]))


if __name__ == "__main__":
    main(sys.argv[1:])
