"""Latency of the job API over HTTP (uvicorn on loopback) against Azurite and the emulator.

Submit: POST /api/jobs of a 10,000-frame job. Status: GET /api/jobs/{id} of a 10,000-frame job
whose frames are all present (its first read apart), and of one with a chunk still rendering.
Prints p50 and p99 of each and nothing else (logging is off); asserts nothing.

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
from pathlib import Path

import httpx
import uvicorn
from azure.storage.blob import BlobServiceClient

from emulators.servicebus.config import BUNDLED_CONFIG
from functions.app import create_app
from renderfarm import blob_layout as layout
from renderfarm.api_keys import hash_key
from renderfarm.chunk_record import ChunkRecord, ChunkState
from renderfarm.chunking import Chunk, plan_chunks
from renderfarm.settings import Settings
from renderfarm_azure.chunk_records import update_chunk_record
from tests.services import free_port, run_azurite, run_servicebus

KEY = "rf_bench-key"
FRAMES = 10_000
SCENE = b"BLENDER17-01v0503" + b"bench-scene"  # a 5.3 header: the API reads it


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
            accepted = http.post("/api/jobs", json=body).json()
            rendering = accepted["job_id"]
            upload_frames(settings, rendering, range(2, FRAMES + 1))
            # As workers leave it: every chunk but the first (frame 1 missing) recorded done.
            record_done_chunks(settings, rendering, accepted["chunk_size"], skip_first=True)
            completed = http.post("/api/jobs", json=body).json()["job_id"]
            upload_frames(settings, completed, range(1, FRAMES + 1))

            def status(job_id: str) -> None:
                http.get(f"/api/jobs/{job_id}").raise_for_status()

            first = [timed(lambda: status(completed))]
            assert http.get(f"/api/jobs/{completed}").json()["state"] == "completed"
            reads = [timed(lambda: status(completed)) for _ in range(args.runs)]
            busy = [timed(lambda: status(rendering)) for _ in range(max(3, args.runs // 3))]
    print(f"submit, {FRAMES:,}-frame job:                          {percentiles(submits)}")
    print(f"status, {FRAMES:,} frames all present:                 {percentiles(reads)}")
    print(f"  its first read:                                     {percentiles(first)}")
    print(f"status, {FRAMES - 1:,} of {FRAMES:,} frames present (rendering): {percentiles(busy)}")


def upload_scene(http: httpx.Client) -> str:
    sha = hashlib.sha256(SCENE).hexdigest()
    ticket = http.post("/api/scenes", json={"sha256": sha, "size": len(SCENE)}).json()
    if not ticket["exists"]:
        httpx.put(
            ticket["upload_url"], content=SCENE, headers=ticket["upload_headers"]
        ).raise_for_status()
    return sha


def record_done_chunks(
    settings: Settings, job_id: str, chunk_size: int, *, skip_first: bool
) -> None:
    assert settings.storage_connection_string
    service = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    container = service.get_container_client(settings.jobs_container)
    chunks = plan_chunks(tuple(range(1, FRAMES + 1)), chunk_size)[1 if skip_first else 0 :]

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
