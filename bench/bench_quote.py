"""A scouted job's quote against what the job then cost, through the local farm.

For each scene, a whole local farm (Azurite, the Service Bus emulator, the API, warm workers:
``renderfarm local run``'s) renders a job with ``scout: true``: its first, middle and last frames
render, the farm quotes the job, the bench approves it, the rest renders, and the job's status
shows ``quote.actual_usd`` beside ``quote.estimated_usd``. Printed, whatever they are: the
estimate, the actual cost and their ratio (the aim: within 0.8 to 1.2), the same for worker
seconds, and the quoted wall time against the measured one.

The scenes: the example scene (examples/example.blend: 320x240, 8 samples), and a heavier one the
bench builds from it with bpy (``--heavy-size`` pixels wide, ``--heavy-samples`` samples).

    .venv/bin/python -m bench.bench_quote [--frames 24] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.bench_farm import EXAMPLE_BLEND, REPO_ROOT, local_farm

CHILD = "--build-heavy"
POLL_S = 0.5
JOB_TIMEOUT_S = 1800


@dataclass(frozen=True, kw_only=True)
class Measured:
    scene: str
    frames: int
    chunks: int
    seconds_per_frame: float
    estimated_usd: float
    actual_usd: float
    ratio: float
    estimated_worker_s: float
    actual_worker_s: float
    quoted_wall_s: float
    actual_wall_s: float


def build_heavy(source: Path, target: Path, width: int, samples: int) -> None:
    """The child's work: the example scene with more pixels and samples, saved as a new file."""
    import bpy  # noqa: PLC0415 - only the child loads Blender

    bpy.ops.wm.open_mainfile(filepath=str(source), load_ui=False, use_scripts=False)
    scene = bpy.context.scene
    height = round(width * scene.render.resolution_y / scene.render.resolution_x)
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.cycles.samples = samples
    bpy.ops.wm.save_as_mainfile(filepath=str(target), copy=True)


def heavy_scene(scratch: Path, width: int, samples: int) -> Path:
    target = scratch / f"heavy-{width}px-{samples}spp.blend"
    subprocess.run(
        [
            *(sys.executable, "-m", "bench.bench_quote", CHILD),
            *(str(EXAMPLE_BLEND), str(target), str(width), str(samples)),
        ],
        check=True,
        capture_output=True,
        cwd=REPO_ROOT,
    )
    return target


def _upload(api: httpx.Client, blend: Path) -> str:
    data = blend.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    ticket = api.post("/api/scenes", json={"sha256": sha, "size": len(data)})
    ticket.raise_for_status()
    upload = ticket.json()
    if upload.get("upload_url"):
        httpx.put(
            upload["upload_url"], content=data, headers=upload.get("upload_headers") or {}
        ).raise_for_status()
    return sha


def _wait(api: httpx.Client, job_id: str, states: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        status: dict[str, Any] = api.get(f"/api/jobs/{job_id}", params={"frames_limit": 0}).json()
        if status["state"] in states:
            return status
        if status["state"] in {"failed", "cancelled"}:
            raise RuntimeError(f"job {job_id} {status['state']}: {status.get('error')}")
        time.sleep(POLL_S)
    raise RuntimeError(f"job {job_id} did not reach {states} in {JOB_TIMEOUT_S} s")


def measure(api: httpx.Client, name: str, blend: Path, frames: int) -> Measured:
    body = {"scene_sha256": _upload(api, blend), "frames": f"1-{frames}", "scout": True}
    job = api.post("/api/jobs", json=body)
    job.raise_for_status()
    job_id = job.json()["job_id"]
    quoted = _wait(api, job_id, {"awaiting_approval"})["quote"]
    approved_at = time.time()
    api.post(f"/api/jobs/{job_id}/approve").raise_for_status()
    done = _wait(api, job_id, {"completed"})
    # The last settler records its worker seconds as it settles: read once more for them.
    time.sleep(2 * POLL_S)
    done = api.get(f"/api/jobs/{job_id}", params={"frames_limit": 0}).json()
    quote = done["quote"]
    finished = datetime.fromisoformat(done["finished_at"]).timestamp()
    quoted_wall = datetime.fromisoformat(quoted["estimated_finish_at"]) - datetime.fromisoformat(
        quoted["quoted_at"]
    )
    return Measured(
        scene=name,
        frames=frames,
        chunks=len(done["chunks"]),
        seconds_per_frame=quote["seconds_per_frame"],
        estimated_usd=quote["estimated_usd"],
        actual_usd=quote["actual_usd"],
        ratio=quote["actual_to_estimate"],
        estimated_worker_s=quote["estimated_worker_seconds"],
        actual_worker_s=done["cost"]["worker_seconds"],
        quoted_wall_s=quoted_wall.total_seconds(),
        actual_wall_s=finished - approved_at,
    )


def report(runs: list[Measured], workers: int) -> str:
    lines = [f"quote against cost, local farm with {workers} warm workers:"]
    for run in runs:
        lines += [
            f"  {run.scene}: {run.frames} frames in {run.chunks} chunks, "
            f"{run.seconds_per_frame:.2f} s a frame (scouted)",
            f"    USD            estimate {run.estimated_usd:.6f}  actual {run.actual_usd:.6f}"
            f"  actual/estimate {run.ratio:.3f}",
            f"    worker seconds estimate {run.estimated_worker_s:.1f}  actual "
            f"{run.actual_worker_s:.1f}  actual/estimate "
            f"{run.actual_worker_s / run.estimated_worker_s:.3f}",
            f"    wall after approval  quoted {run.quoted_wall_s:.1f} s  measured "
            f"{run.actual_wall_s:.1f} s",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--heavy-size", type=int, default=480, help="pixels wide")
    parser.add_argument("--heavy-samples", type=int, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-quote-") as folder:
        scratch = Path(folder)
        heavy = heavy_scene(scratch, args.heavy_size, args.heavy_samples)
        scenes = [
            ("example (320x240, 8 samples)", EXAMPLE_BLEND),
            (f"heavier ({args.heavy_size} px wide, {args.heavy_samples} samples)", heavy),
        ]
        runs = []
        with local_farm(scratch / "farm", args.workers) as farm:
            endpoints = farm.endpoints
            headers = {"Authorization": f"Bearer {endpoints.api_key}"}
            with httpx.Client(base_url=endpoints.api_url, headers=headers, timeout=30) as api:
                for name, blend in scenes:
                    runs.append(measure(api, name, blend, args.frames))
    print(report(runs, args.workers))
    print(json.dumps([asdict(run) for run in runs]))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        source, target, width, samples = sys.argv[2:6]
        build_heavy(Path(source), Path(target), int(width), int(samples))
    else:
        main()
