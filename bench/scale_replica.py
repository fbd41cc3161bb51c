"""One simulated replica for bench_scale: the real worker loop, chunk renderer and job lifecycle
over its own clients, with Blender replaced by a wait and a small PNG, and a death it may die."""

from __future__ import annotations

import contextlib
import struct
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from azure.servicebus import ServiceBusClient
from azure.storage.blob import BlobServiceClient

from bench.scale_tally import TALLY, in_settle, on_blob_response
from containerapp_worker.blend_cache import BlendCache
from containerapp_worker.chunk_renderer import ChunkRenderer
from containerapp_worker.storage import WorkerStorage
from containerapp_worker.worker import Worker, WorkerOptions
from renderfarm.chunks.record import ChunkState
from renderfarm.jobs.lifecycle import JobLifecycle
from renderfarm.jobs.manifest import JobManifest
from renderfarm.shared.blend_header import BlenderVersion
from renderfarm.shared.blender_pools import pool_queues
from renderfarm.shared.render_settings import RenderSettings
from renderfarm.shared.settings import Settings
from renderfarm_azure.job_ledger import job_lifecycle

BLENDER = "5.3.0"  # the API reads bench_api.SCENE's header as 5.3: its pool's queues
POOL = BlenderVersion(5, 3)


class WorkerKilled(BaseException):
    """Not an Exception: nothing in the worker catches it, as nothing survives a SIGKILL."""


def tiny_png(size: int = 8) -> bytes:
    """A real, valid grey PNG of ``size`` x ``size`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * size for _ in range(size))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = tiny_png()


@dataclass
class Doom:
    """When this replica dies: at its ``chunk``-th chunk, mid-render or right after the settle."""

    chunk: int = 0  # 0: never
    at: str = "render"
    rendered: int = 0
    settled: int = 0

    def check(self, point: str) -> None:
        count = self.rendered if point == "render" else self.settled
        if self.chunk and point == self.at and count == self.chunk:
            self.chunk = 0
            with TALLY.lock:
                TALLY.kills[point] += 1
            raise WorkerKilled(point)


@dataclass
class FakeBlender:
    """The Renderer protocol (containerapp_worker.chunk_renderer): a wait and a small PNG."""

    render_s: float
    doom: Doom

    def open_scene(self, path: Path) -> None:
        return None

    def missing_files(self, root: Path) -> tuple[str, ...]:
        return ()

    def apply(self, settings: RenderSettings) -> str | None:
        return "CPU"

    def render_frame(self, frame: int, out_path: Path) -> Path:
        time.sleep(self.render_s)
        self.doom.rendered += 1
        self.doom.check("render")
        out_path.write_bytes(PNG)
        return out_path

    def log_tail(self) -> tuple[str, ...]:
        return ()

    def forget_log(self) -> None:
        return None

    def new_output(self) -> bytes:
        return b""


class CountingStorage(WorkerStorage):
    """Notes when each frame landed, and each upload that found its frame there already."""

    def upload_frame(self, job_id: str, frame: int, extension: str, path: Path) -> bool:
        written = super().upload_frame(job_id, frame, extension, path)
        with TALLY.lock:
            TALLY.uploads += 1
            if written:
                TALLY.last_upload[job_id] = max(TALLY.last_upload.get(job_id, 0.0), time.time())
            else:
                TALLY.doubled += 1
        return written


@dataclass
class CountingLifecycle:
    """The Lifecycle protocol over the real JobLifecycle: counts the etag retries of each settle
    (412 answers to its conditional writes), and may die right after it."""

    inner: JobLifecycle
    doom: Doom

    def record_start(self, job_id: str) -> None:
        self.inner.record_start(job_id)

    def chunk_failed(self, manifest: JobManifest, index: int, error: str) -> None:
        self.inner.chunk_failed(manifest, index, error)

    def chunk_settled(self, manifest: JobManifest, index: int, state: ChunkState) -> str | None:
        in_settle.counts = counts = Counter[int]()
        try:
            outcome = self.inner.chunk_settled(manifest, index, state)
        finally:
            in_settle.counts = None
            with TALLY.lock:
                TALLY.settle_retries.append(counts[412])
                TALLY.settle_conflicts += counts[409]
        self.doom.settled += 1
        self.doom.check("settle")
        return outcome


@dataclass(frozen=True, kw_only=True)
class Farm:
    settings: Settings
    render_s: float
    cache: Path
    stop: threading.Event


def run_replica(farm: Farm, name: str, doom: Doom) -> None:
    """One worker thread: a replica, replaced by a fresh one (new clients) if it is killed."""
    generation = 0
    while not farm.stop.is_set():
        generation += 1
        if not _one_replica(farm, f"{name}-{generation}", doom):
            return


def _one_replica(farm: Farm, worker_id: str, doom: Doom) -> bool:
    """Run one replica until stopped (False) or killed (True)."""
    settings = farm.settings
    assert settings.storage_connection_string and settings.servicebus_connection_string
    blobs = BlobServiceClient.from_connection_string(
        settings.storage_connection_string, raw_response_hook=on_blob_response
    )
    events_bus = ServiceBusClient.from_connection_string(settings.servicebus_connection_string)
    receiving_bus = ServiceBusClient.from_connection_string(settings.servicebus_connection_string)
    storage = CountingStorage(blobs, scenes=settings.scenes_container, jobs=settings.jobs_container)
    lifecycle = job_lifecycle(settings, blob_service=blobs, bus=events_bus)
    chunks = ChunkRenderer(
        storage=storage,
        cache=BlendCache(farm.cache / worker_id, max_bytes=settings.blend_cache_max_bytes),
        renderer=FakeBlender(render_s=farm.render_s, doom=doom),
        worker_id=worker_id,
        blender_version=BLENDER,
        stop_requested=farm.stop,
        lifecycle=CountingLifecycle(inner=lifecycle, doom=doom),
    )
    options = WorkerOptions(queue_names=pool_queues(settings.queue_prefix, POOL))
    worker = Worker(client=receiving_bus, chunks=chunks, options=options, stop=farm.stop)
    try:
        worker.run()
        return False
    except WorkerKilled:
        return True  # its message stays locked until the lock expires
    finally:
        for client in (receiving_bus, events_bus, blobs):
            with contextlib.suppress(Exception):  # a dead replica's clients, closing anyhow
                client.close()
