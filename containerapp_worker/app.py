"""The worker's composition root: clients, cache, Blender and the loop, wired once per process."""

from __future__ import annotations

import threading
from pathlib import Path

from containerapp_worker import clients
from containerapp_worker.blend_cache import BlendCache
from containerapp_worker.blender_runner import BlenderRunner
from containerapp_worker.blender_thumbnail import write_thumbnail
from containerapp_worker.chunk_renderer import ChunkRenderer
from containerapp_worker.storage import WorkerStorage
from containerapp_worker.worker import Worker, WorkerOptions
from renderfarm.settings import Settings


def build_worker(
    settings: Settings,
    *,
    stop: threading.Event,
    worker_id: str,
    once: bool,
    max_messages: int,
    cache_dir: Path,
) -> Worker:
    storage = WorkerStorage(
        clients.blob_service(settings),
        scenes=settings.scenes_container,
        jobs=settings.jobs_container,
    )
    chunks = ChunkRenderer(
        storage=storage,
        cache=BlendCache(cache_dir, max_bytes=settings.blend_cache_max_bytes),
        renderer=BlenderRunner(),
        worker_id=worker_id,
        thumbnail=write_thumbnail,
        stop_requested=stop,
    )
    options = WorkerOptions(queue_name=settings.queue_name, once=once, max_messages=max_messages)
    return Worker(client=clients.servicebus(settings), chunks=chunks, options=options, stop=stop)
