"""A modelled Azure overhead: 250 frames of the example scene at 1920x1080 over a range of chunk
sizes, on the Bicep's default pool (10 replicas, scaled from zero by KEDA).

Measured here, in one run: a worker's own start (the Python process, ``import bpy`` and the
worker's packages), opening the scene, and Blender's seconds per frame at 1080p (a frame rendered
at 480x270 with the worker's code, scaled by pixels: Cycles' time per frame grows with pixels at a
fixed sample count). Documented, not measured: a Container Apps replica's start with a cached
image, KEDA's polling interval (infra/scaling.json), the cool-down a replica idles through before
it is removed (billed), and the per-chunk overhead bench/bench_farm.py measures locally.

For each chunk size: the job's wall time from submission to its last frame, its overhead over a
perfect split of the frames across the replicas it can use, and the replica-seconds billed over
the frames' own render time. The planner's choice (renderfarm.chunks.plan) is marked.

    .venv/bin/python -m bench.bench_azure_model [--frames 250] [--replicas 10]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_BLEND = REPO_ROOT / "examples" / "example.blend"
CHILD = "--measure-in-this-process"
PROBE = (480, 270)
TARGET = (1920, 1080)

#: Container Apps: a replica's start with the image already on the node. Published reports
#: range from about 10 s (small images) to 30-47 s (jobs, pull included: docs/facts.md
#: "Container Apps start-up"); a Blender image is large, so the middle of that range.
CONTAINER_APPS_START_S = 20.0
#: KEDA polls the queue every pollingInterval (infra/scaling.json): on average half of it.
KEDA_DELAY_S = json.loads((REPO_ROOT / "infra" / "scaling.json").read_text())["pollingInterval"] / 2
#: A replica idles this long after its last message before it is removed, and is billed for it.
COOLDOWN_S = json.loads((REPO_ROOT / "infra" / "scaling.json").read_text())["cooldownPeriod"]
#: Per chunk beyond its frames (message, records, settle): bench/bench_farm.py measures about
#: this against Azurite; Blob and Service Bus in one region answer in a few ms per request.
CHUNK_OVERHEAD_S = 0.5
#: Scene download from Blob to a replica (MB/s), for the example's few hundred KB: negligible.
DOWNLOAD_MB_S = 50.0
CHUNK_SIZES = (1, 2, 5, 7, 10, 13, 25, 50, 125, 250)


@dataclass(frozen=True, kw_only=True)
class Measured:
    worker_start_s: float  # process start to ready: imports, bpy included
    open_s: float  # opening the scene and applying the job's settings
    frame_s_1080p: float


def measure_in_child(blend: Path) -> dict[str, float]:
    """Runs in a fresh process: times the worker's imports, the scene's open and one frame."""
    started = time.perf_counter()
    sys.path.insert(0, str(REPO_ROOT))
    import containerapp_worker.app  # noqa: F401, PLC0415 - the worker's imports, timed
    from containerapp_worker.blender_runner import BlenderRunner  # noqa: PLC0415
    from renderfarm.shared.render_settings import RenderSettings  # noqa: PLC0415

    runner = BlenderRunner()
    imported = time.perf_counter()
    runner.open_scene(blend)
    runner.apply(RenderSettings(resolution_x=PROBE[0], resolution_y=PROBE[1]))
    opened = time.perf_counter()
    out = Path(sys.argv[-1])
    runner.render_frame(1, out / "warm.png")  # the first frame also builds the BVH
    frame_started = time.perf_counter()
    runner.render_frame(2, out / "probe.png")
    frame_s = time.perf_counter() - frame_started
    scale = (TARGET[0] * TARGET[1]) / (PROBE[0] * PROBE[1])
    return {
        "worker_start_s": imported - started,
        "open_s": opened - imported,
        "frame_s_1080p": frame_s * scale,
    }


def measure(blend: Path) -> Measured:
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            [sys.executable, "-m", "bench.bench_azure_model", CHILD, str(blend), scratch],
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
        )
    return Measured(**json.loads(done.stdout.strip().splitlines()[-1]))


@dataclass(frozen=True, kw_only=True)
class Modelled:
    chunk_size: int
    chunks: int
    replicas: int
    wall_s: float
    ideal_s: float
    billed_s: float
    render_s: float


def model(frames: int, size: int, replicas: int, measured: Measured, scene_mb: float) -> Modelled:
    """Replicas start together once KEDA sees the queue; each takes chunks until none is left.
    A replica opens the scene once and keeps it open for the job's later chunks."""
    t = measured.frame_s_1080p
    chunks = math.ceil(frames / size)
    used = min(replicas, chunks)
    cold = (
        KEDA_DELAY_S
        + CONTAINER_APPS_START_S
        + measured.worker_start_s
        + scene_mb / DOWNLOAD_MB_S
        + measured.open_s
    )
    chunk_s = CHUNK_OVERHEAD_S + size * t
    rounds = math.ceil(chunks / used)
    short = frames - (chunks - 1) * size  # the last chunk may be short
    alone_in_last_round = chunks - (rounds - 1) * used == 1
    final = CHUNK_OVERHEAD_S + short * t if alone_in_last_round else chunk_s
    wall = cold + (rounds - 1) * chunk_s + final
    busy = chunks * CHUNK_OVERHEAD_S + frames * t
    # Each replica is billed from its start to the end of its cool-down.
    billed = used * (cold + COOLDOWN_S) + busy
    return Modelled(
        chunk_size=size,
        chunks=chunks,
        replicas=used,
        wall_s=wall,
        ideal_s=frames * t / replicas,
        billed_s=billed,
        render_s=frames * t,
    )


def report(
    frames: int, replicas: int, measured: Measured, rows: list[Modelled], planned: int
) -> str:
    lines = [
        f"{frames} frames at {TARGET[0]}x{TARGET[1]}, up to {replicas} replicas; measured here: "
        f"worker start {measured.worker_start_s:.1f} s, scene open {measured.open_s:.2f} s, "
        f"{measured.frame_s_1080p:.1f} s per frame at 1080p",
        f"documented: Container Apps start {CONTAINER_APPS_START_S:.0f} s, KEDA delay "
        f"{KEDA_DELAY_S:.1f} s, cool-down {COOLDOWN_S} s, chunk overhead {CHUNK_OVERHEAD_S} s",
        f"{'chunk':>5} {'chunks':>6} {'replicas':>8} {'wall s':>8} {'vs ideal':>8} "
        f"{'billed/render':>13}",
    ]
    for row in rows:
        mark = "  <- planned" if row.chunk_size == planned else ""
        lines.append(
            f"{row.chunk_size:5d} {row.chunks:6d} {row.replicas:8d} {row.wall_s:8.0f} "
            f"{row.wall_s / row.ideal_s:8.2f} {row.billed_s / row.render_s:13.2f}{mark}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv and argv[0] == CHILD:
        print(json.dumps(measure_in_child(Path(argv[1]))))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--blend", type=Path, default=EXAMPLE_BLEND)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    from renderfarm.chunks.plan import FarmCapacity, SceneTimings, plan_chunks_for  # noqa: PLC0415

    measured = measure(args.blend.resolve())
    scene_mb = args.blend.stat().st_size / 1e6
    sizes = sorted({*CHUNK_SIZES, args.frames})
    rows = [model(args.frames, size, args.replicas, measured, scene_mb) for size in sizes]
    timings = SceneTimings(
        seconds_per_frame=measured.frame_s_1080p,
        chunk_overhead_s=CHUNK_OVERHEAD_S,
        open_s=measured.open_s,
        frames=args.frames,
    )
    start = KEDA_DELAY_S + CONTAINER_APPS_START_S + measured.worker_start_s
    capacity = FarmCapacity(replicas=args.replicas, replica_start_s=start)
    planned = plan_chunks_for(args.frames, timings, capacity).size
    if planned not in sizes:
        rows.append(model(args.frames, planned, args.replicas, measured, scene_mb))
        rows.sort(key=lambda row: row.chunk_size)
    print(report(args.frames, args.replicas, measured, rows, planned))


if __name__ == "__main__":
    main(sys.argv[1:])
