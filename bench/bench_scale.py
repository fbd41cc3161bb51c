"""N simulated workers on the farm's real path, against Azurite, the Service Bus emulator and the
API (uvicorn on loopback, in this process): issue 23, "A thousand workers".

Each worker is a thread running the real worker loop (containerapp_worker.worker.Worker) with a
real ChunkRenderer, WorkerStorage and JobLifecycle over its own Blob client and its own two
Service Bus clients (the receiver's and the events sender's), as a replica has: receive, lock
renewal, the chunk record, each frame uploaded, the ledger tree, the job's end and its event,
then complete. Only Blender is replaced, by ``FakeBlender``: it waits ``--render-s`` per frame
and writes a small real PNG.

With ``--kill-fraction`` that share of the workers dies once, abruptly, on a chunk: half of them
mid-render (before the frame is uploaded), half right after the ledger settle (the end maybe
recorded, the message not completed). Nothing is settled on the way out; the thread closes its
clients as a dead process's connections drop, and a fresh worker takes its place (Container
Apps replaces a replica). The message comes back when its lock (``--lock-s``) expires.

Counted: Blob requests (a raw_response_hook on the workers' Blob clients: the API's own are
not counted), Service Bus operations (the SDK's receive, complete, abandon, renew and send
calls, the API's sends included, patched on the classes for the run), frames uploaded twice
(an upload that found the blob there), etag retries per settle (412 answers to the conditional
writes made inside a settle: none are expected with the ledger tree), GET /api/jobs/{id} while
the farm runs, and the time from a job's last frame upload to its manifest's finished_at.

    .venv/bin/python -m bench.bench_scale --workload one-job --frames 500 --workers 50
    .venv/bin/python -m bench.bench_scale --workload many-jobs --jobs 10 --frames 100 \\
        --workers 200 --kill-fraction 0.05

Prints a short table, then one JSON line, last. Asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import random
import re
import resource
import statistics
import struct
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
from azure.core.pipeline import PipelineResponse
from azure.servicebus import ServiceBusClient, ServiceBusReceiver, ServiceBusSender
from azure.storage.blob import BlobServiceClient

from bench.bench_api import KEY, serve, upload_scene
from containerapp_worker.blend_cache import BlendCache
from containerapp_worker.chunk_renderer import ChunkRenderer
from containerapp_worker.storage import WorkerStorage
from containerapp_worker.worker import Worker, WorkerOptions
from emulators.servicebus.config import BUNDLED_CONFIG, load_config
from renderfarm.api_keys import hash_key
from renderfarm.blend_header import BlenderVersion
from renderfarm.blender_pools import pool_queues
from renderfarm.chunk_record import ChunkState
from renderfarm.circuit_breaker import CircuitBreaker
from renderfarm.events import EventType, JobEvent
from renderfarm.job_lifecycle import JobLifecycle
from renderfarm.manifest import JobManifest
from renderfarm.render_settings import RenderSettings
from renderfarm.settings import Settings
from renderfarm_azure.job_ledger import job_lifecycle
from renderfarm_azure.job_store import BlobJobStores
from testbed.emulators import ServiceBusEmulator, run_azurite, run_servicebus, write_config

BLENDER = "5.3.0"  # the API reads bench_api.SCENE's header as 5.3: its pool's queues
POOL = BlenderVersion(5, 3)
MANY_JOBS = 100
STATUS_EVERY_S = 0.5
STATUS_TIMEOUT_S = 30.0
POLL_S = 0.25
#: Service Bus calls counted, by the SDK's method names.
RECEIVER_OPS = (
    "receive_messages",
    "complete_message",
    "abandon_message",
    "renew_message_lock",
    "dead_letter_message",
)


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


# --- what is counted -------------------------------------------------------------------------


@dataclass
class Tally:
    """Counters shared by every worker thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    blob_requests: int = 0
    blob_statuses: Counter[int] = field(default_factory=Counter)
    bus_ops: Counter[str] = field(default_factory=Counter)
    uploads: int = 0
    doubled: int = 0
    settle_retries: list[int] = field(default_factory=list)
    settle_retry_blobs: Counter[str] = field(default_factory=Counter)
    settle_conflicts: int = 0  # 409s inside settles: create-only markers someone else made
    last_upload: dict[str, float] = field(default_factory=dict)
    kills: Counter[str] = field(default_factory=Counter)
    status_s: list[float] = field(default_factory=list)
    status_errors: int = 0
    ready: int = 0
    log_warnings: Counter[str] = field(default_factory=Counter)

    def bus(self, op: str) -> None:
        with self.lock:
            self.bus_ops[op] += 1


TALLY = Tally()
_in_settle = threading.local()


def on_blob_response(response: PipelineResponse[Any, Any]) -> None:
    """Every HTTP answer the workers' Blob clients get, retries included."""
    status = response.http_response.status_code
    with TALLY.lock:
        TALLY.blob_requests += 1
        TALLY.blob_statuses[status] += 1
    if getattr(_in_settle, "counts", None) is not None:
        _in_settle.counts[status] += 1
        if status == HTTPStatus.PRECONDITION_FAILED:  # which blob an etag retry was on
            kind = re.sub(r"[0-9a-f]{32}", "<job>", response.http_request.url.split("?")[0])
            with TALLY.lock:
                TALLY.settle_retry_blobs[re.sub(r"^.*?/jobs/", "", kind)] += 1


@contextlib.contextmanager
def counting_servicebus() -> Iterator[None]:
    """Count the SDK's receiver and sender calls, on the classes, for the run."""
    saved: list[tuple[type, str, Any]] = []

    def patch(cls: type, name: str) -> None:
        original = getattr(cls, name)

        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            TALLY.bus(name)
            return original(self, *args, **kwargs)

        saved.append((cls, name, original))
        setattr(cls, name, counted)

    for name in RECEIVER_OPS:
        patch(ServiceBusReceiver, name)
    patch(ServiceBusSender, "send_messages")
    try:
        yield
    finally:
        for cls, name, original in saved:
            setattr(cls, name, original)


class TallyHandler(logging.Handler):
    """The workers' log lines, counted and dropped: 'ready' lines and warnings by message."""

    def emit(self, record: logging.LogRecord) -> None:
        with TALLY.lock:
            if getattr(record, "status", None) == "ready":
                TALLY.ready += 1
            if record.levelno >= logging.WARNING:
                TALLY.log_warnings[f"{record.name}: {record.msg}"] += 1


# --- one simulated replica -------------------------------------------------------------------


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
        _in_settle.counts = counts = Counter[int]()
        try:
            outcome = self.inner.chunk_settled(manifest, index, state)
        finally:
            _in_settle.counts = None
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


# --- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Plan:
    workload: str
    workers: int
    jobs: int
    frames: int  # per job
    chunk_size: int
    render_s: float
    lock_s: int
    kill_fraction: float
    timeout_s: float
    seed: int


def bench_config(path: Path, lock_s: int) -> Path:
    """The bundled config with every chunk queue's lock cut to ``lock_s``."""
    queues: dict[str, dict[str, Any]] = {}
    raw = json.loads(Path(BUNDLED_CONFIG).read_text(encoding="utf-8"))
    for queue in raw["UserConfig"]["Namespaces"][0]["Queues"]:
        properties = dict(queue["Properties"])
        if queue["Name"].startswith("render-chunks"):
            properties["LockDuration"] = f"PT{lock_s}S"
        queues[queue["Name"]] = properties
    config = write_config(path, queues)
    load_config(config)  # refuses a config the emulator would refuse
    return config


def dooms(plan: Plan) -> list[Doom]:
    rng = random.Random(plan.seed)
    doomed = round(plan.workers * plan.kill_fraction)
    chosen = set(rng.sample(range(plan.workers), doomed))
    result: list[Doom] = []
    for index in range(plan.workers):
        if index in chosen:
            at = "render" if len(result) % 2 == 0 else "settle"
            result.append(Doom(chunk=rng.randint(1, 3), at=at))
        else:
            result.append(Doom())
    return result


def measure(plan: Plan, scratch: Path) -> dict[str, Any]:
    total_frames = plan.jobs * plan.frames
    with (
        run_azurite(scratch / "azurite") as azurite,
        run_servicebus(scratch / "bus", bench_config(scratch / "bus.json", plan.lock_s)) as bus,
        counting_servicebus(),
    ):
        settings = Settings(
            storage_connection_string=azurite.connection_string,
            servicebus_connection_string=bus.connection_string,
            api_key_hashes=f"bench={hash_key(KEY)}",
            rate_limit_per_minute=1_000_000,
            max_queued_frames_per_tenant=total_frames + 1,
        )
        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        for container in (settings.scenes_container, settings.jobs_container):
            with contextlib.suppress(Exception):  # the API may have made it already
                service.create_container(container)
        store = BlobJobStores.in_container(
            container=service.get_container_client(settings.jobs_container),
            breaker=CircuitBreaker(
                name="bench", threshold=1_000_000, open_seconds=0.0, clock=time.monotonic
            ),
        )
        farm = Farm(
            settings=settings,
            render_s=plan.render_s,
            cache=scratch / "cache",
            stop=(threading.Event()),
        )
        threads = [
            threading.Thread(
                target=run_replica, args=(farm, f"w{index:04d}", doom), name=f"w{index:04d}"
            )
            for index, doom in enumerate(dooms(plan))
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        try:
            with (
                serve(settings) as base,
                httpx.Client(
                    base_url=base,
                    headers={"Authorization": f"Bearer {KEY}"},
                    timeout=STATUS_TIMEOUT_S,
                ) as http,
            ):
                wait_ready(plan.workers, started, plan.timeout_s)
                ready_s = time.perf_counter() - started
                scene = upload_scene(http)
                began = time.perf_counter()
                jobs = [submit(http, scene, plan.frames, plan.chunk_size) for _ in range(plan.jobs)]
                ended = wait_for_end(
                    http,
                    jobs=jobs,
                    bus=bus,
                    store=store,
                    deadline=began + plan.timeout_s,
                    prefix=settings.queue_prefix,
                )
                wall_s = time.perf_counter() - began
        finally:
            farm.stop.set()  # before the services stop: else each worker retries a dead bus
            for thread in threads:
                thread.join(30)
        bus_ops = Counter(TALLY.bus_ops)  # the farm's: not the reading of the events below
        end_events = job_end_events(bus, set(jobs))
        TALLY.bus_ops = bus_ops
        return figures(plan, store, jobs, ended, end_events, wall_s=wall_s, ready_s=ready_s)


def wait_ready(workers: int, started: float, timeout_s: float) -> None:
    """Until every worker has opened its receivers (its 'ready' line), or the timeout."""
    while TALLY.ready < workers and time.perf_counter() - started < timeout_s:
        time.sleep(POLL_S)


def submit(http: httpx.Client, scene: str, frames: int, chunk_size: int) -> str:
    body = {"scene_sha256": scene, "frames": f"1-{frames}", "chunk_size": chunk_size}
    answer = http.post("/api/jobs", json=body)
    answer.raise_for_status()
    return str(answer.json()["job_id"])


def wait_for_end(
    http: httpx.Client,
    *,
    jobs: list[str],
    bus: ServiceBusEmulator,
    store: BlobJobStores,
    deadline: float,
    prefix: str,
) -> bool:
    """Poll each job's status over the API (timed: the status figure) until every job has
    ended and the chunk queues are empty (killed workers' messages come back and settle)."""
    queues = pool_queues(prefix, POOL)
    open_jobs = set(jobs)
    next_status = 0
    while time.perf_counter() < deadline:
        if open_jobs:
            job = jobs[next_status % len(jobs)]
            next_status += 1
            t0 = time.perf_counter()
            try:
                http.get(f"/api/jobs/{job}").raise_for_status()
            except httpx.HTTPError:  # timed out or refused under load: counted, not fatal
                TALLY.status_errors += 1
            TALLY.status_s.append(time.perf_counter() - t0)
            # The manifest is the truth for the end: one status read per poll is the sample.
            for job_id in list(open_jobs):
                versioned = store.manifests.read_manifest(job_id)
                if versioned is not None and versioned.manifest.outcome is not None:
                    open_jobs.discard(job_id)
        if not open_jobs and all(bus.counts(queue)["total_message_count"] == 0 for queue in queues):
            return True
        time.sleep(STATUS_EVERY_S if open_jobs else POLL_S)
    return False


def job_end_events(bus: ServiceBusEmulator, jobs: set[str]) -> Counter[str]:
    """job.completed (and failed, cancelled) events per job on the events queue."""
    found: Counter[str] = Counter()
    ends = {EventType.JOB_COMPLETED, EventType.JOB_FAILED, EventType.JOB_CANCELLED}
    with (
        ServiceBusClient.from_connection_string(bus.connection_string) as client,
        client.get_queue_receiver("job-events") as receiver,
    ):
        while batch := receiver.receive_messages(max_message_count=100, max_wait_time=1):
            for message in batch:
                receiver.complete_message(message)
                event = JobEvent.from_json(b"".join(message.body))
                if event.job_id in jobs and event.type in ends:
                    found[event.job_id] += 1
    return found


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(
    plan: Plan,
    store: BlobJobStores,
    jobs: list[str],
    ended: bool,
    end_events: Counter[str],
    *,
    wall_s: float,
    ready_s: float,
) -> dict[str, Any]:
    frames_done = 0
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    for job_id in jobs:
        frames_done += len(
            store.frames.frames_present(job_id) & frozenset(range(1, plan.frames + 1))
        )
        versioned = store.manifests.read_manifest(job_id)
        manifest = versioned.manifest if versioned is not None else None
        outcomes[str(manifest.outcome if manifest is not None else None)] += 1
        if manifest is not None and manifest.finished_at and job_id in TALLY.last_upload:
            last = datetime.fromtimestamp(TALLY.last_upload[job_id], UTC)
            latencies.append((manifest.finished_at - last).total_seconds())
    total = plan.jobs * plan.frames
    bus_ops = sum(TALLY.bus_ops.values())
    return {
        "workload": plan.workload,
        "workers": plan.workers,
        "jobs": plan.jobs,
        "frames": total,
        "frames_done": frames_done,
        "lost": total - frames_done,
        "doubled": TALLY.doubled,
        "ended": ended,
        "outcomes": dict(outcomes),
        "kills": dict(TALLY.kills),
        "settles": len(TALLY.settle_retries),
        "settle_retries_p50": percentile([float(n) for n in TALLY.settle_retries], 0.5),
        "settle_retries_p99": percentile([float(n) for n in TALLY.settle_retries], 0.99),
        "settle_retries_max": max(TALLY.settle_retries, default=0),
        "settle_retry_blobs": dict(TALLY.settle_retry_blobs),
        "settle_create_conflicts": TALLY.settle_conflicts,
        "job_end_latency_s": round(statistics.median(latencies), 3) if latencies else None,
        "job_end_latency_max_s": round(max(latencies), 3) if latencies else None,
        "job_end_events": sum(end_events.values()),
        "jobs_ended_once": sum(1 for job in jobs if end_events[job] == 1),
        "status_p50_ms": round(percentile(TALLY.status_s, 0.5) * 1000, 1),
        "status_p99_ms": round(percentile(TALLY.status_s, 0.99) * 1000, 1),
        "status_reads": len(TALLY.status_s),
        "status_errors": TALLY.status_errors,
        "storage_requests_per_frame": round(TALLY.blob_requests / max(frames_done, 1), 2),
        "blob_statuses": {str(k): v for k, v in sorted(TALLY.blob_statuses.items())},
        "servicebus_ops_per_frame": round(bus_ops / max(frames_done, 1), 2),
        "servicebus_ops": dict(TALLY.bus_ops),
        "frames_per_s": round(frames_done / wall_s, 1),
        "ready_s": round(ready_s, 1),
        "wall_s": round(wall_s, 1),
        "render_s": plan.render_s,
        "lock_s": plan.lock_s,
        "worker_warnings": sum(TALLY.log_warnings.values()),
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        ("workers / jobs / frames", f"{result['workers']} / {result['jobs']} / {result['frames']}"),
        (
            "frames done, lost, doubled",
            f"{result['frames_done']}, {result['lost']}, {result['doubled']}",
        ),
        ("jobs ended (once)", f"{result['outcomes']} ({result['jobs_ended_once']} once)"),
        ("kills", str(result["kills"] or "none")),
        (
            "settle etag retries p50/p99/max",
            f"{result['settle_retries_p50']:.0f} / "
            f"{result['settle_retries_p99']:.0f} / {result['settle_retries_max']}",
        ),
        (
            "job end latency p50/max s",
            f"{result['job_end_latency_s']} / {result['job_end_latency_max_s']}",
        ),
        ("status p50/p99 ms", f"{result['status_p50_ms']} / {result['status_p99_ms']}"),
        ("blob requests / frame", str(result["storage_requests_per_frame"])),
        ("service bus ops / frame", str(result["servicebus_ops_per_frame"])),
        ("frames/s, wall s", f"{result['frames_per_s']}, {result['wall_s']}"),
        ("CPU s: bench / services", f"{result['cpu_bench_s']} / {result['cpu_services_s']}"),
    ]
    return "\n".join(f"{name:<34}{value}" for name, value in rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workload", choices=("one-job", "many-jobs"), default="one-job")
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--frames", type=int, default=None, help="per job")
    parser.add_argument("--jobs", type=int, default=None, help="many-jobs only (default 100)")
    parser.add_argument("--chunk-size", type=int, default=1)
    parser.add_argument("--render-s", type=float, default=0.2)
    parser.add_argument("--lock-s", type=int, default=5, help="the chunk queues' LockDuration")
    parser.add_argument("--kill-fraction", type=float, default=0.0)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args()
    many = args.workload == "many-jobs"
    plan = Plan(
        workload=args.workload,
        workers=args.workers,
        jobs=(args.jobs or MANY_JOBS) if many else 1,
        frames=args.frames or (100 if many else 1000),
        chunk_size=args.chunk_size,
        render_s=args.render_s,
        lock_s=args.lock_s,
        kill_fraction=args.kill_fraction,
        timeout_s=args.timeout_s,
        seed=args.seed,
    )
    quiet()
    with tempfile.TemporaryDirectory() as scratch:
        result = measure(plan, Path(scratch))
    # The services have stopped and been waited for: their CPU is in RUSAGE_CHILDREN.
    result["cpu_bench_s"] = cpu_seconds(resource.RUSAGE_SELF)
    result["cpu_services_s"] = cpu_seconds(resource.RUSAGE_CHILDREN)
    print(table(result))
    if TALLY.log_warnings:
        print("worker warnings:")
        for line, count in TALLY.log_warnings.most_common(5):
            print(f"  {count:>6}  {line[:100]}")
    print(json.dumps(result))


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return round(usage.ru_utime + usage.ru_stime, 1)


def quiet() -> None:
    """The figures only: the farm's lines are counted, not printed (the API's create_app puts a
    JSON handler on the root logger: these loggers do not reach it)."""
    handler = TallyHandler()
    levels = {
        "containerapp_worker": logging.WARNING,
        "containerapp_worker.worker": logging.INFO,  # its 'ready' lines
        "renderfarm": logging.WARNING,
        "renderfarm_azure": logging.WARNING,
        "functions": logging.WARNING,
        "azure": logging.ERROR,
        "uvicorn": logging.ERROR,
        "httpx": logging.ERROR,
    }
    for name, level in levels.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if "." not in name:
            logger.handlers[:] = [handler]
            logger.propagate = False


if __name__ == "__main__":
    main()
