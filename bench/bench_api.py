"""Latency of the job API over HTTP (uvicorn on loopback) against Azurite and the emulator, and
what a worker's chunk start costs, at 1,000 and 10,000 frames.

Submit: POST /api/jobs of a 10,000-frame job. Status: GET /api/jobs/{id} of a job rendering (its
first read included), at 1,000 and 10,000 frames. Chunk start: the requests a worker makes before
a chunk's first frame. Prints p50 and p99 of each, and the 10,000 / 1,000 ratios, and nothing
else (logging is off); asserts nothing.

    .venv/bin/python -m bench.bench_api [--runs 30]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from azure.storage.blob import BlobServiceClient

from emulators.servicebus.config import BUNDLED_CONFIG
from renderfarm.chunks.chunking import Chunk, plan_chunks
from renderfarm.chunks.record import ChunkRecord, ChunkState
from renderfarm.keys.api_keys import hash_key
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.settings import Settings
from renderfarm_azure.chunk_records import update_chunk_record
from renderfarm_azure.job_store import BlobJobStores
from testbed.emulators import free_port, run_azurite, run_servicebus
from testbed.scenes import whole_blend
from webapp.app import create_app

KEY = "rf_bench-key"
FRAMES = 10_000
#: Job sizes whose status and chunk start are compared: the costs should not grow with it.
SIZES = (1_000, 10_000)
#: The same chunks in both (the plan's size for 10,000 frames): only the job's size differs.
CHUNK_SIZE = 100
SCENE = whole_blend(b"BLENDER17-01v0503", b"bench-scene")  # a 5.3 header: the API reads it


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(settings=settings), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):7.1f} ms   p99 {p99:7.1f} ms   (n={len(ms)})"


def timed(call: object) -> float:
    assert callable(call)
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the figures only: no request or connection-pool lines
    with (
        tempfile.TemporaryDirectory() as scratch,
        run_azurite(Path(scratch) / "azurite") as azurite,
        run_servicebus(Path(scratch) / "servicebus", Path(BUNDLED_CONFIG)) as servicebus,
    ):
        settings = Settings(
            storage_connection_string=azurite.connection_string,
            servicebus_connection_string=servicebus.connection_string,
            api_key_hashes=f"bench={hash_key(KEY)}",
            rate_limit_per_minute=100_000,
            max_queued_frames_per_tenant=FRAMES * (args.runs + 10),
        )
        with (
            serve(settings) as base,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
            ) as http,
        ):
            scene = upload_scene(http)
            body = {"scene_sha256": scene, "frames": f"1-{FRAMES}"}
            for _ in range(3):  # warm up connections and caches
                http.post("/api/jobs", json=body).raise_for_status()
            submits = [
                timed(lambda: http.post("/api/jobs", json=body).raise_for_status())
                for _ in range(args.runs)
            ]
            # Every job is in Blob before any is measured: Azurite's listings slow down with
            # everything its container holds, and each size must be read in the same container.
            jobs = {size: prepare_job(http, settings, scene, size) for size in SIZES}
            figures = {
                size: measure_job(http, settings, job_id, size, args.runs)
                for size, job_id in jobs.items()
            }
    print(f"submit, {FRAMES:,}-frame job:                 {percentiles(submits)}")
    for size, figure in figures.items():
        print(f"status, {size:,}-frame job rendering:    {percentiles(figure.status)}")
        print(f"  chunk start (worker), {size:,} frames: {percentiles(figure.chunk_start)}")
    small, big = (figures[size] for size in SIZES)
    print(
        f"{SIZES[1]:,} / {SIZES[0]:,} frames: status p50 "
        f"{statistics.median(big.status) / statistics.median(small.status):.2f}x, "
        f"chunk start p50 "
        f"{statistics.median(big.chunk_start) / statistics.median(small.chunk_start):.2f}x"
    )


@dataclass(frozen=True)
class SizeFigures:
    status: list[float]  # the first read included: no cache makes it slower than the rest
    chunk_start: list[float]


def prepare_job(http: httpx.Client, settings: Settings, scene: str, size: int) -> str:
    """A job of ``size`` frames as workers leave it mid-render: every chunk but the first
    recorded done with its frames in Blob, the first still rendering (frame 1 missing, the
    rest recorded as its worker's progress writes leave them)."""
    body = {"scene_sha256": scene, "frames": f"1-{size}", "chunk_size": CHUNK_SIZE}
    job_id = str(http.post("/api/jobs", json=body).json()["job_id"])
    upload_frames(settings, job_id, range(2, size + 1))
    record_done_chunks(settings, job_id, CHUNK_SIZE, size, skip_first=True)
    record_rendering_chunk(settings, job_id, frames_done=tuple(range(2, CHUNK_SIZE + 1)))
    return job_id


def measure_job(
    http: httpx.Client, settings: Settings, job_id: str, size: int, runs: int
) -> SizeFigures:
    def status() -> None:
        answer = http.get(f"/api/jobs/{job_id}")
        answer.raise_for_status()
        assert answer.json()["state"] == "rendering"

    reads = [timed(status) for _ in range(runs)]
    store = job_store(settings)
    first = plan_chunks(tuple(range(1, size + 1)), CHUNK_SIZE)[0]
    starts = [timed(lambda: chunk_start(store, job_id, first.frames)) for _ in range(runs)]
    return SizeFigures(status=reads, chunk_start=starts)


def chunk_start(store: BlobJobStores, job_id: str, frames: tuple[int, ...]) -> None:
    """What a worker reads and writes before it renders a chunk's first frame
    (containerapp_worker.chunk_renderer): its record, the manifest, which frames exist."""
    store.chunks.update_chunk_record(job_id, 0, lambda current: current or _rendering(job_id))
    assert store.manifests.read_manifest(job_id) is not None
    store.frames.frames_in(job_id, frames)


def _rendering(job_id: str, frames_done: tuple[int, ...] = ()) -> ChunkRecord:
    return ChunkRecord(
        job_id=job_id,
        chunk_index=0,
        state=ChunkState.RENDERING,
        attempts=1,
        frames_done=frames_done,
    )


def record_rendering_chunk(settings: Settings, job_id: str, frames_done: tuple[int, ...]) -> None:
    store = job_store(settings)
    store.chunks.update_chunk_record(job_id, 0, lambda _: _rendering(job_id, frames_done))


def job_store(settings: Settings) -> BlobJobStores:
    assert settings.storage_connection_string
    service = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    breaker = CircuitBreaker(name="bench", threshold=1000, open_seconds=1, clock=time.monotonic)
    return BlobJobStores.in_container(
        container=service.get_container_client("jobs"), breaker=breaker
    )


def upload_scene(http: httpx.Client) -> str:
    sha = hashlib.sha256(SCENE).hexdigest()
    ticket = http.post("/api/scenes", json={"sha256": sha, "size": len(SCENE)}).json()
    if not ticket["exists"]:
        httpx.put(
            ticket["upload_url"], content=SCENE, headers=ticket["upload_headers"]
        ).raise_for_status()
    return sha


def record_done_chunks(
    settings: Settings, job_id: str, chunk_size: int, frames: int, *, skip_first: bool
) -> None:
    assert settings.storage_connection_string
    service = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    container = service.get_container_client(settings.jobs_container)
    chunks = plan_chunks(tuple(range(1, frames + 1)), chunk_size)[1 if skip_first else 0 :]

    def done(chunk: Chunk) -> None:
        record = ChunkRecord(
            job_id=job_id,
            chunk_index=chunk.index,
            state=ChunkState.DONE,
            attempts=1,
            frames_done=chunk.frames,
        )
        update_chunk_record(container, job_id, chunk.index, lambda _: record)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(done, chunks))


def upload_frames(settings: Settings, job_id: str, frames: range) -> None:
    assert settings.storage_connection_string
    service = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    container = service.get_container_client(settings.jobs_container)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(
            pool.map(
                lambda f: container.upload_blob(layout.frame_blob(job_id, f, "png"), b"png"),
                frames,
            )
        )


if __name__ == "__main__":
    main()
