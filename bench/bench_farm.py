"""The farm against bare Blender on the same frames of the same scene, in one run.

Measurements alternate, ``--rounds`` times, and each figure is the median of its rounds. This
machine is shared and its speed drifts from minute to minute (the same bare render is 10 % apart
in two runs a minute apart), so bare Blender runs before and after each round's farm runs, and
the round's bare figures are the mean of the two (bare, farm, bare, farm, ..., bare: one bare
run more than rounds):

- **bare**: one bpy process renders every frame with the worker's own Blender code (scripts off,
  the job's settings applied), timed from its start (``import bpy`` and opening included) to its
  first and its last frame on disk;
- **farm, 1 worker** (``make run``'s default, on every core) and **farm, N workers** (N: one
  per core, each on its share of the cores): a whole local farm (Azurite, the Service Bus
  emulator, the API, the autoscaler, warm workers) is started, and the job timed from the
  scene's upload to its first and its last frame in Blob (the workers log each upload as it
  commits; the logs are read after the job, so watching costs the farm nothing), as
  ``make run`` does. Chunk sizes are the API's own plan unless ``--chunk-size`` is given.

Besides wall times it prints Blender's own seconds per frame in each, so the cost of what runs
beside the render is visible apart from the farm's fixed overhead, and each farm process's CPU
seconds from the job's submission to its last frame (bench/process_cpu.py): here the emulated
Azure services share Blender's cores. The last line is one JSON object with the medians.

With ``--split-cores`` the emulated Azure services (and this process) run on the first core and
Blender, the workers' and bare, on the others (bench/core_split.py): what the farm costs Blender
as in Azure, where the services run elsewhere.

    .venv/bin/python -m bench.bench_farm [--frames 48] [--workers 1,2] [--rounds 3] [--split-cores]
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
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.core_split import CoreSplit, pin, this_process_on
from bench.farm_report import Run, combined_run, report
from bench.process_cpu import CpuSampler

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_BLEND = REPO_ROOT / "examples" / "example.blend"
CHILD = "--render-bare"
SETTLE_S = 3.0  # after the workers are ready, before the job: the services' start-up work ends
JOB_TIMEOUT_S = 900


def render_bare(blend: Path, frames: int, out_dir: Path, cores: list[int]) -> dict[str, Any]:
    """The child's work: every frame in this process, each timed as the worker times it, and
    the wall clock when the first and the last were on disk. On ``cores`` only, if any."""
    if cores:  # before bpy loads: its thread pool sizes itself by them
        os.sched_setaffinity(0, cores)
    sys.path.insert(0, str(REPO_ROOT))
    from containerapp_worker.blender_runner import BlenderRunner  # noqa: PLC0415 - loads bpy
    from renderfarm.shared.render_settings import RenderSettings  # noqa: PLC0415

    runner = BlenderRunner(threads=len(cores))  # none given: 0, every core
    runner.open_scene(blend)
    runner.apply(RenderSettings())
    seconds, written = [], []
    opened_cpu_s = time.process_time()
    for frame in range(1, frames + 1):
        started = time.perf_counter()
        runner.render_frame(frame, out_dir / f"{frame:04d}.png")
        seconds.append(time.perf_counter() - started)
        written.append(time.time())
    return {
        "seconds": seconds,
        "first_at": written[0],
        "last_at": written[-1],
        "frames_cpu_s": time.process_time() - opened_cpu_s,
    }


def measure_bare(blend: Path, frames: int, scratch: Path, split: CoreSplit | None) -> Run:
    cores = ",".join(str(core) for core in sorted(split.render)) if split else "-"
    started = time.time()  # the child's clock is this machine's: its times are comparable
    child = [CHILD, str(blend), str(frames), str(scratch), cores]
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_farm", *child],
        check=True,
        capture_output=True,
        cwd=REPO_ROOT,
        text=True,
    )
    times = json.loads(done.stdout.strip().splitlines()[-1])
    return Run(
        name="bare Blender, one process",
        wall_s=times["last_at"] - started,
        first_frame_s=times["first_at"] - started,
        frame_seconds=times["seconds"],
        blender_cpu_s=times["frames_cpu_s"],
    )


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
    from renderfarm_local.farm_layout import FarmLayout, FarmPorts  # noqa: PLC0415
    from renderfarm_local.local_farm import LocalFarm, with_max_replicas, with_warm_workers  # noqa: PLC0415
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
        _wait_warm(farm.layout.logs, workers)
        yield farm
    finally:
        with _quiet():
            farm.stop()


def _wait_warm(logs: Path, workers: int) -> None:
    """Until every worker waits for messages (its log's "ready" line), then a moment more for the
    services' own start-up work to end: the farm is measured warm, as a pool kept warm runs."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready = [
            log
            for log in logs.glob("worker*.log")
            if '"status": "ready"' in log.read_text(errors="replace")
        ]
        if len(ready) >= workers:
            time.sleep(SETTLE_S)
            return
        time.sleep(0.2)
    raise RuntimeError(f"{workers} worker(s) did not start in 120 s")


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


def _frames_written(logs: Path, job_id: str) -> list[float]:
    """When each of the job's frames was in Blob (Unix time), from the workers' own log lines
    ("frame N uploaded", logged as each upload commits): read after the job, so that watching
    it costs the farm nothing while Blender renders."""
    times = []
    for log in logs.glob("worker*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if not line.startswith("{") or job_id not in line:
                continue
            entry = json.loads(line)
            if entry.get("job_id") == job_id and entry.get("status") == "uploaded":
                times.append(datetime.fromisoformat(entry["time"]).timestamp())
    return sorted(times)


def _wait_done(
    api: httpx.Client, job_id: str, *, api_key: str, on_read: Callable[[], None] = lambda: None
) -> dict[str, Any]:
    """The job's status once it has ended, followed by the CLI's own follower
    (renderfarm_client.job_follower: a read every second, or later where the farm asks);
    ``on_read`` runs after each read."""
    from renderfarm_client.farm_api import FarmClient  # noqa: PLC0415 - the farm's imports, parent only
    from renderfarm_client.job_follower import follow_job  # noqa: PLC0415

    deadline = time.monotonic() + JOB_TIMEOUT_S

    def sleep(seconds: float) -> None:
        if time.monotonic() + seconds > deadline:
            raise RuntimeError(f"job {job_id} did not finish in {JOB_TIMEOUT_S} s")
        time.sleep(seconds)

    client = FarmClient(api_url=str(api.base_url).rstrip("/"), api_key=api_key)
    progress = follow_job(
        client, job_id, downloader=None, on_update=lambda _: on_read(), sleep=sleep
    )
    if progress.state != "completed":
        raise RuntimeError(f"job {job_id} {progress.state}: {progress.error}")
    return dict(api.get(f"/api/jobs/{job_id}", params={"frames_limit": 0}).json())


@contextlib.contextmanager
def _farm_on(scratch: Path, workers: int, split: CoreSplit | None) -> Iterator[Any]:
    """The local farm; with ``split``, its processes start on the render cores (a worker's bpy
    sizes its thread pool by the cores it starts on, as bare Blender's does) and then its
    services, and this process, move to the services' cores."""
    if split is None:
        with local_farm(scratch, workers) as farm:
            yield farm
        return
    with this_process_on(split.render), local_farm(scratch, workers) as farm:
        for health in farm.service_health():
            if health.pid:
                pin(health.pid, split.services)
        pin(os.getpid(), split.services)
        yield farm


def measure_farm(  # noqa: PLR0913 - the run's settings, named at every call
    blend: Path,
    frames: int,
    workers: int,
    *,
    chunk_size: int | None,
    scratch: Path,
    split: CoreSplit | None,
) -> Run:
    threads = max(1, len(split.render) // workers) if split else None
    with _render_threads(threads), _farm_on(scratch, workers, split) as farm:
        endpoints = farm.endpoints
        headers = {"Authorization": f"Bearer {endpoints.api_key}"}
        # Sampled as the follower reads, so no thread of ours wakes beside Blender: the span ends
        # at the first read after the last frame (up to a follower's 2 s later).
        cpu = CpuSampler(lambda: _farm_processes(farm))
        with httpx.Client(base_url=endpoints.api_url, headers=headers, timeout=30) as api:
            cpu.sample()
            submitted = time.time()  # the workers' log clock is this machine's
            job = _submit(api, blend, frames, chunk_size)
            status = _wait_done(api, job["job_id"], api_key=endpoints.api_key, on_read=cpu.sample)
        written = _frames_written(farm.layout.logs, job["job_id"])
        if len(written) != frames:
            raise RuntimeError(f"{len(written)} of {frames} frames logged as uploaded")
        first, last = written[0], written[-1]
        render_s = _render_seconds(endpoints.storage_connection_string, job["job_id"])
    per_frame = render_s / frames
    chunking = status.get("chunking") or {}
    return Run(
        name=f"farm, {workers} worker{'s' if workers > 1 else ''}",
        wall_s=last - submitted,
        first_frame_s=first - submitted,
        frame_seconds=[per_frame],
        chunk_size=int(job["chunk_size"]),
        note=chunking.get("reason", ""),
        cpu_s=(spent := cpu.between(submitted, last)),
        blender_cpu_s=sum(seconds for name, seconds in spent.items() if name.startswith("worker")),
    )


@contextlib.contextmanager
def _render_threads(threads: int | None) -> Iterator[None]:
    """The workers' render threads, where given (the local farm reads our environment)."""
    if threads is None:
        yield
        return
    os.environ["RENDERFARM_RENDER_THREADS"] = str(threads)
    try:
        yield
    finally:
        del os.environ["RENDERFARM_RENDER_THREADS"]


def _farm_processes(farm: Any) -> dict[str, int]:
    """The farm's processes by name: its services, its workers and this one."""
    found = {health.name: health.pid for health in farm.service_health() if health.pid}
    for running in farm.workers().values():
        found.update({process.spec.name: process.pid for process in running})
    return {**found, "bench": os.getpid()}


def _render_seconds(connection_string: str, job_id: str) -> float:
    """Blender's seconds on the job's frames, from its chunk records (one listing)."""
    from azure.storage.blob import BlobServiceClient  # noqa: PLC0415 - parent only

    from renderfarm.shared.circuit_breaker import CircuitBreaker  # noqa: PLC0415
    from renderfarm_azure.chunk_record_store import BlobChunkRecords  # noqa: PLC0415

    container = BlobServiceClient.from_connection_string(connection_string).get_container_client(
        "jobs"
    )
    breaker = CircuitBreaker(name="bench", threshold=100, open_seconds=1, clock=time.monotonic)
    chunks = BlobChunkRecords(container=container, breaker=breaker)
    return sum(summary.usage.render_s for summary in chunks.chunk_summaries(job_id).values())


def main(argv: list[str]) -> None:
    if argv and argv[0] == CHILD:
        blend, frames, out_dir, cores = argv[1:]
        on = [int(core) for core in cores.split(",")] if cores != "-" else []
        print(json.dumps(render_bare(Path(blend), int(frames), Path(out_dir), on)))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--workers", default=f"1,{os.cpu_count() or 1}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--blend", type=Path, default=EXAMPLE_BLEND)
    parser.add_argument(
        "--split-cores",
        action="store_true",
        help="the emulated services on the first core, Blender (the workers' and bare) on the "
        "others: what the farm costs Blender as in Azure, where the services run elsewhere",
    )
    args = parser.parse_args(argv)
    counts = sorted({int(n) for n in args.workers.split(",")})
    blend = args.blend.resolve()
    split = CoreSplit.of_this_machine() if args.split_cores else None
    setup = (
        f"on {os.cpu_count()} cores"
        if split is None
        else f"on cores {sorted(split.render)} (the services on {sorted(split.services)})"
    )
    rounds: list[list[Run]] = []
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as scratch:
        bare_before = measure_bare(blend, args.frames, Path(scratch) / "bare-0", split)
        for number in range(args.rounds):
            root = Path(scratch) / f"round-{number}"
            farms = [
                measure_farm(
                    blend,
                    args.frames,
                    workers,
                    chunk_size=args.chunk_size,
                    scratch=root / f"farm-{workers}",
                    split=split,
                )
                for workers in counts
            ]
            bare_after = measure_bare(blend, args.frames, root / "bare", split)
            runs = [combined_run([bare_before, bare_after], statistics.fmean), *farms]
            this_round = json.loads(
                report(args.frames, [runs], scene=blend.name, setup=setup).splitlines()[-1]
            )
            # How far the host's speed moved between the round's two bare runs: a round whose
            # bare Blender drifted far says more about the host than about the farm.
            this_round["bare_drift"] = round(bare_after.wall_s / bare_before.wall_s - 1, 3)
            print(json.dumps(this_round), flush=True)
            bare_before = bare_after
            rounds.append(runs)
    print(report(args.frames, rounds, scene=blend.name, setup=setup))


if __name__ == "__main__":
    main(sys.argv[1:])
