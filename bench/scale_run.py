"""One bench_scale run: the emulators and the API started, the replicas running, the jobs
submitted and polled until they end, then the figures read."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from azure.servicebus import ServiceBusClient
from azure.storage.blob import BlobServiceClient

from bench.bench_api import KEY, serve, upload_scene
from bench.scale_figures import Outcome, Plan, figures
from bench.scale_replica import POOL, Doom, Farm, run_replica
from bench.scale_tally import TALLY, counting_servicebus
from emulators.servicebus.config import BUNDLED_CONFIG, load_config
from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.keys.api_keys import hash_key
from renderfarm.shared.blender_pools import pool_queues
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.settings import Settings
from renderfarm_azure.job_store import BlobJobStores
from testbed.emulators import ServiceBusEmulator, run_azurite, run_servicebus, write_config

STATUS_EVERY_S = 0.5
STATUS_TIMEOUT_S = 30.0
POLL_S = 0.25


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
        run = Outcome(jobs=jobs, ended=ended, end_events=end_events, wall_s=wall_s, ready_s=ready_s)
        return figures(plan, store, run)


def wait_ready(workers: int, started: float, timeout_s: float) -> None:
    """Until every worker has opened its receivers (its 'ready' line), or the timeout."""
    while TALLY.ready < workers and time.perf_counter() - started < timeout_s:
        time.sleep(POLL_S)


def submit(http: httpx.Client, scene: str, frames: int, chunk_size: int) -> str:
    body = {"scene_sha256": scene, "frames": f"1-{frames}", "chunk_size": chunk_size}
    answer = http.post("/api/jobs", json=body)
    answer.raise_for_status()
    return str(answer.json()["job_id"])


def wait_for_end(  # noqa: PLR0913 - keyword-only: the farm's parts the poll reads
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
