"""The farm against bare Blender on the same frames of the same scene, in one run.

Three measurements, one after another on this machine:

- **bare**: one bpy process renders every frame with the worker's own Blender code (scripts off,
  the job's settings applied), timed from its start (``import bpy`` and opening included);
- **farm, 1 worker** (``make run``'s default, on every core) and **farm, N workers** (N: one
  per core, each on its share of the cores): a whole local farm (Azurite, the Service Bus
  emulator, the API, the autoscaler, workers) is started, the scene uploaded, and the job timed
  from its submission to its last frame in Blob, as ``make run`` does. Chunk sizes are the
  API's own plan unless ``--chunk-size`` is given.

Besides wall times it prints Blender's own seconds per frame in each, so the cost of what runs
beside the render is visible apart from the farm's fixed overhead.

    .venv/bin/python -m bench.bench_farm [--frames 48] [--workers 1,2] [--chunk-size N]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_BLEND = REPO_ROOT / "examples" / "example.blend"
CHILD = "--render-bare"
POLL_S = 1.0  # as the CLI's job follower: status polling costs the API CPU beside Blender
JOB_TIMEOUT_S = 900


@dataclass(frozen=True, kw_only=True)
class Run:
    name: str
    wall_s: float
    frame_seconds: list[float]
    chunk_size: int | None = None
    note: str = ""

    @property
    def per_frame_s(self) -> float:
        return statistics.fmean(self.frame_seconds)


def render_bare(blend: Path, frames: int, out_dir: Path) -> list[float]:
    """The child's work: every frame in this process, each timed as the worker times it."""
    sys.path.insert(0, str(REPO_ROOT))
    from containerapp_worker.blender_runner import BlenderRunner  # noqa: PLC0415 - loads bpy
    from renderfarm.render_settings import RenderSettings  # noqa: PLC0415

    runner = BlenderRunner()
    runner.open_scene(blend)
    runner.apply(RenderSettings())
    seconds = []
    for frame in range(1, frames + 1):
        started = time.perf_counter()
        runner.render_frame(frame, out_dir / f"{frame:04d}.png")
        seconds.append(time.perf_counter() - started)
    return seconds


def measure_bare(blend: Path, frames: int, scratch: Path) -> Run:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_farm", CHILD, str(blend), str(frames), str(scratch)],
        check=True,
        capture_output=True,
        cwd=REPO_ROOT,
        text=True,
    )
    wall = time.perf_counter() - started
    seconds = json.loads(done.stdout.strip().splitlines()[-1])
    return Run(name="bare Blender, one process", wall_s=wall, frame_seconds=seconds)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The farm's services log to files; our own process's loggers say nothing here."""
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(logging.NOTSET)


@contextlib.contextmanager
def local_farm(scratch: Path, workers: int) -> Iterator[Any]:
    from renderfarm_local import services  # noqa: PLC0415 - the farm's imports, parent only
    from renderfarm_local.local_farm import (  # noqa: PLC0415
        FarmLayout,
        FarmPorts,
        LocalFarm,
        with_max_replicas,
        with_warm_workers,
    )
    from renderfarm_local.scaling_rule import ScalingParameters  # noqa: PLC0415

    # As `make run` (renderfarm local run) runs it: its workers start with the farm.
    scaling = with_warm_workers(
        with_max_replicas(ScalingParameters.load(services.SCALING_CONFIG), workers)
    )
    # The farm's API reads its settings from our environment: no 429s for the poller.
    os.environ["RENDERFARM_RATE_LIMIT_PER_MINUTE"] = "100000"
    farm = LocalFarm(layout=FarmLayout(root=scratch), ports=FarmPorts.free(), scaling=scaling)
    with _quiet():
        farm.start()
    try:
        yield farm
    finally:
        with _quiet():
            farm.stop()


def _submit(api: httpx.Client, blend: Path, frames: int, chunk_size: int | None) -> dict[str, Any]:
    data = blend.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    ticket = api.post("/api/scenes", json={"sha256": sha, "size": len(data)})
    ticket.raise_for_status()
    upload = ticket.json()
    if upload.get("upload_url"):
        put = httpx.put(
            upload["upload_url"],
            content=data,
            headers={"x-ms-blob-type": "BlockBlob", **upload.get("upload_headers", {})},
        )
        put.raise_for_status()
    body: dict[str, Any] = {"scene_sha256": sha, "frames": f"1-{frames}"}
    if chunk_size:
        body["chunk_size"] = chunk_size
    job = api.post("/api/jobs", json=body)
    job.raise_for_status()
    return dict(job.json())


def _wait_done(api: httpx.Client, job_id: str, frames: int) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        answer = api.get(f"/api/jobs/{job_id}", params={"frames_limit": 0})
        if answer.status_code != 200:
            raise RuntimeError(f"status of job {job_id}: {answer.status_code} {answer.text}")
        status = answer.json()
        if status["frames_done"] >= frames:
            return dict(status)
        if status["state"] in {"failed", "cancelled"}:
            raise RuntimeError(f"job {job_id} {status['state']}: {status.get('error')}")
        time.sleep(POLL_S)
    raise RuntimeError(f"job {job_id} did not finish in {JOB_TIMEOUT_S} s")


def _settled(api: httpx.Client, job_id: str) -> dict[str, Any]:
    """The status once every chunk has written its last record (render seconds are final)."""
    for _ in range(40):
        status = api.get(f"/api/jobs/{job_id}").json()
        if status["state"] == "completed":
            return dict(status)
        time.sleep(POLL_S)
    return dict(status)


def measure_farm(
    blend: Path, frames: int, workers: int, chunk_size: int | None, scratch: Path
) -> Run:
    with local_farm(scratch, workers) as farm:
        endpoints = farm.endpoints
        headers = {"Authorization": f"Bearer {endpoints.api_key}"}
        with httpx.Client(base_url=endpoints.api_url, headers=headers, timeout=30) as api:
            submitted = time.perf_counter()
            job = _submit(api, blend, frames, chunk_size)
            _wait_done(api, job["job_id"], frames)
            wall = time.perf_counter() - submitted
            status = _settled(api, job["job_id"])
        render_s = _render_seconds(endpoints.storage_connection_string, job["job_id"])
    per_frame = render_s / frames
    chunking = status.get("chunking") or {}
    return Run(
        name=f"farm, {workers} worker{'s' if workers > 1 else ''}",
        wall_s=wall,
        frame_seconds=[per_frame],
        chunk_size=int(job["chunk_size"]),
        note=chunking.get("reason", ""),
    )


def _render_seconds(connection_string: str, job_id: str) -> float:
    """Blender's seconds on the job's frames, from its chunk records (one listing)."""
    from azure.storage.blob import BlobServiceClient  # noqa: PLC0415 - parent only

    from renderfarm.circuit_breaker import CircuitBreaker  # noqa: PLC0415
    from renderfarm_azure.job_store import BlobJobStore  # noqa: PLC0415

    container = BlobServiceClient.from_connection_string(connection_string).get_container_client(
        "jobs"
    )
    breaker = CircuitBreaker(name="bench", threshold=100, open_seconds=1, clock=time.monotonic)
    store = BlobJobStore(container=container, breaker=breaker)
    return sum(summary.usage.render_s for summary in store.chunk_summaries(job_id).values())


def report(frames: int, runs: list[Run]) -> str:
    bare = runs[0]
    lines = [
        f"{frames} frames of {EXAMPLE_BLEND.name} on {os.cpu_count()} cores",
        f"{'':<28} {'wall s':>8} {'ratio':>6} {'s/frame':>8} {'ratio':>6}  chunk",
    ]
    for run in runs:
        chunk = f"{run.chunk_size}" if run.chunk_size else "-"
        lines.append(
            f"{run.name:<28} {run.wall_s:8.1f} {run.wall_s / bare.wall_s:6.2f} "
            f"{run.per_frame_s:8.3f} {run.per_frame_s / bare.per_frame_s:6.2f}  {chunk}"
            + (f"  ({run.note})" if run.note else "")
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv and argv[0] == CHILD:
        blend, frames, out_dir = argv[1:]
        print(json.dumps(render_bare(Path(blend), int(frames), Path(out_dir))))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--workers", default=f"1,{os.cpu_count() or 1}")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--blend", type=Path, default=EXAMPLE_BLEND)
    args = parser.parse_args(argv)
    counts = sorted({int(n) for n in args.workers.split(",")})
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as scratch:
        root = Path(scratch)
        runs = [measure_bare(args.blend.resolve(), args.frames, root / "bare")]
        for workers in counts:
            runs.append(
                measure_farm(
                    args.blend.resolve(),
                    args.frames,
                    workers,
                    args.chunk_size,
                    root / f"farm-{workers}",
                )
            )
    print(report(args.frames, runs))


if __name__ == "__main__":
    main(sys.argv[1:])
