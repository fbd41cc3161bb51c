"""The worker's composition root: clients, cache, Blender and the loop, wired once per process."""

from __future__ import annotations

import threading
from pathlib import Path

from containerapp_worker import clients
from containerapp_worker.billing import worker_billing
from containerapp_worker.blend_cache import PROJECTS, BlendCache
from containerapp_worker.blender_runner import BlenderRunner, blender_version
from containerapp_worker.blender_thumbnail import write_thumbnail
from containerapp_worker.chunk_renderer import ChunkRenderer
from containerapp_worker.frame_thumbnails import FrameThumbnails
from containerapp_worker.project_cache import ProjectCache
from containerapp_worker.storage import WorkerStorage
from containerapp_worker.worker import Worker, WorkerOptions
from renderfarm.shared.blend_header import BlenderVersion
from renderfarm.shared.blender_pools import is_gpu_queue, pool_queues, queue_name, version_of_queue
from renderfarm.shared.settings import Settings
from renderfarm_azure.job_ledger import job_lifecycle


class WrongPool(RuntimeError):
    """The worker's queue belongs to another Blender's pool: it would render with the wrong one."""


def worker_queues(settings: Settings, running: str) -> tuple[str, ...]:
    """The queues this worker serves, highest priority first: its setting's list, else its one
    queue, else its Blender's pool's band queues (the GPU ones on a GPU worker). A queue named
    for another Blender version is refused at start rather than rendering jobs with the wrong
    one; a GPU worker refuses CPU queues and a CPU worker GPU ones."""
    major, minor = (int(part) for part in running.split(".")[:2])
    version = BlenderVersion(major, minor)
    gpu = settings.worker_device == "GPU"
    if settings.queue_names:
        queues = tuple(name.strip() for name in settings.queue_names.split(",") if name.strip())
    elif settings.queue_name:
        queues = (settings.queue_name,)
    else:
        queues = pool_queues(settings.queue_prefix, version, gpu=gpu)
    for queue in queues:
        serves = version_of_queue(settings.queue_prefix, queue)
        if serves is not None and serves != version:
            raise WrongPool(
                f"queue {queue} is Blender {serves}'s pool, but this worker runs {running}"
            )
        if serves is not None and is_gpu_queue(settings.queue_prefix, queue) != gpu:
            raise WrongPool(f"queue {queue} is not for a {settings.worker_device} worker")
    return queues


#: An idle worker's wait on a pool's normal band, against 1 on each other queue: jobs go there
#: unless they say otherwise, so a new job's first chunk waits least there. With the 2 s pass
#: and the SDK's 0.2 s steps (0.4, 1.2, 0.4 s, not 0.8 s each), a normal message waits about
#: 0.16 s on average, not 0.53 s, and at most 0.8 s, not 1.6 s; a high or a low one still at
#: most 1.6 s.
NORMAL_IDLE_SHARE = 3.0


def idle_shares(settings: Settings, queues: tuple[str, ...]) -> tuple[float, ...]:
    """Each queue's share of an idle worker's wait (containerapp_worker/worker.py)."""
    prefix = settings.queue_prefix

    def share(queue: str) -> float:
        version = version_of_queue(prefix, queue)
        gpu = is_gpu_queue(prefix, queue)
        normal = version is not None and queue == queue_name(prefix, version, gpu=gpu)
        return NORMAL_IDLE_SHARE if normal else 1.0

    return tuple(share(queue) for queue in queues)


def build_worker(  # noqa: PLR0913 - keyword-only: the process's options from its command line
    settings: Settings,
    *,
    stop: threading.Event,
    worker_id: str,
    once: bool,
    max_messages: int,
    cache_dir: Path,
) -> Worker:
    blob_service = clients.blob_service(settings)
    storage = WorkerStorage(
        blob_service, scenes=settings.scenes_container, jobs=settings.jobs_container
    )
    # Its own Service Bus client: the receiver's is used from the main thread only.
    bus = clients.servicebus(settings)
    billing = worker_billing(settings, bus=bus, worker_id=worker_id)
    lifecycle = job_lifecycle(
        settings,
        blob_service=blob_service,
        bus=bus,
        costs=billing.recorder if billing is not None else None,
    )
    running = blender_version()
    queues = worker_queues(settings, running)
    chunks = ChunkRenderer(
        storage=storage,
        cache=BlendCache(cache_dir, max_bytes=settings.blend_cache_max_bytes),
        # Projects beside the scenes, each cache within its own cap.
        projects=ProjectCache(
            cache_dir / PROJECTS, max_bytes=settings.blend_cache_max_bytes, store=storage
        ),
        renderer=BlenderRunner(threads=settings.render_threads),
        worker_id=worker_id,
        blender_version=running,
        thumbnails=FrameThumbnails(in_blender=write_thumbnail),
        stop_requested=stop,
        lifecycle=lifecycle,
        billing=billing,
    )
    options = WorkerOptions(
        queue_names=queues,
        idle_shares=idle_shares(settings, queues),
        once=once,
        max_messages=max_messages,
        hold_recheck_s=settings.budget_hold_recheck_seconds,
    )
    return Worker(client=clients.servicebus(settings), chunks=chunks, options=options, stop=stop)
