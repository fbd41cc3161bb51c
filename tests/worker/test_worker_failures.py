"""The worker loop when things go wrong that no error of ours names: the message is handed back at
once, never left to its lock, and the worker serves the next one or exits to be replaced.

The loop runs in-process against Azurite and the Service Bus emulator (the API submits the jobs),
with a stand-in for Blender that raises where a broken bpy would.
"""

from __future__ import annotations

import hashlib
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.servicebus import ServiceBusClient, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.storage.blob import BlobServiceClient
from fastapi.testclient import TestClient

from containerapp_worker.blend_cache import BlendCache
from containerapp_worker.chunk_attempt import Lifecycle
from containerapp_worker.chunk_renderer import ChunkRenderer
from containerapp_worker.storage import WorkerStorage
from containerapp_worker.worker import EXIT_IN_DOUBT, RunEnd, Worker, WorkerOptions
from renderfarm.chunks.record import ChunkRecord, ChunkState
from renderfarm.keys.api_keys import hash_key
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.render_settings import RenderSettings
from renderfarm.shared.settings import Settings
from renderfarm_azure.chunk_records import read_chunk_record
from renderfarm_azure.job_ledger import job_lifecycle
from testbed.emulators import Azurite, ServiceBusEmulator, run_servicebus, write_config
from webapp.app import create_app

pytestmark = pytest.mark.timeout(120)

QUEUE = "render-chunks-5.3"
LOCK_S = 60  # far longer than any wait below: a message back sooner was abandoned, not expired
#: How soon an abandoned message must be back: a small fraction of the lock.
AT_ONCE_S = 5.0
API_KEY = "rf_worker-failures-01"
QUEUES: dict[str, dict[str, Any]] = {
    QUEUE: {
        "LockDuration": f"PT{LOCK_S}S",
        "MaxDeliveryCount": 5,
        "RequiresDuplicateDetection": True,
        "DuplicateDetectionHistoryTimeWindow": "PT10M",
    },
    "job-events": {"RequiresDuplicateDetection": True},
}
#: Where a broken Blender raises: C-level errors and reports bpy does not wrap as ours.
BLENDER_FAILURES = [
    ("open_scene", SystemError("error return without exception set")),
    ("apply", RuntimeError("bpy_struct: item.attr = val: read-only")),
    (
        "render_frame",
        RuntimeError("Error: out of GPU memory writing /tmp/renderfarm-x1/000001.png"),
    ),
]


@dataclass(kw_only=True)
class BrokenBlender:
    """Stands in for BlenderRunner: writes a small file per frame, or raises ``error`` from the
    call named ``fails_in`` (every time), noting when it raised."""

    fails_in: str = ""
    error: Exception | None = None
    raised_at: list[float] = field(default_factory=list)

    def _call(self, name: str) -> None:
        if name == self.fails_in and self.error is not None:
            self.raised_at.append(time.monotonic())
            raise self.error

    def open_scene(self, path: Path) -> None:
        self._call("open_scene")

    def missing_files(self, root: Path) -> tuple[str, ...]:
        return ()

    def apply(self, settings: RenderSettings) -> None:
        self._call("apply")

    def render_frame(self, frame: int, out_path: Path) -> Path:
        self._call("render_frame")
        out_path.write_bytes(b"frame %d" % frame)
        return out_path

    def log_tail(self) -> tuple[str, ...]:
        return ("Read blend: /var/cache/renderfarm/scene.blend",)

    def forget_log(self) -> None:
        pass

    def new_output(self) -> bytes:
        return b""


@dataclass(kw_only=True)
class FlakyLifecycle:
    """The farm's job lifecycle, but the first record_start raises what no code of ours names."""

    inner: Lifecycle
    failures: list[str] = field(default_factory=list)

    def record_start(self, job_id: str) -> None:
        if not self.failures:
            self.failures.append(job_id)
            raise KeyError("started_at")
        self.inner.record_start(job_id)

    def chunk_settled(self, *args: Any, **kwargs: Any) -> str | None:
        return self.inner.chunk_settled(*args, **kwargs)

    def chunk_failed(self, *args: Any, **kwargs: Any) -> None:
        self.inner.chunk_failed(*args, **kwargs)


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceBusEmulator]:
    folder = tmp_path_factory.mktemp("worker-failures-bus")
    with run_servicebus(folder / "data", write_config(folder / "config.json", QUEUES)) as service:
        yield service


@dataclass(kw_only=True)
class Rig:
    """The API, the storage and the queue one test's jobs go through."""

    settings: Settings
    api: TestClient
    blob_service: BlobServiceClient
    bus: ServiceBusEmulator
    cache_dir: Path
    clients: list[ServiceBusClient] = field(default_factory=list)

    def submit(self, scene: Path, frames: str) -> str:
        data = scene.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        auth = {"Authorization": f"Bearer {API_KEY}"}
        ticket = self.api.post(
            "/api/scenes", json={"sha256": sha, "size": len(data)}, headers=auth
        ).json()
        if not ticket["exists"]:
            headers = ticket.get("upload_headers") or {}
            httpx.put(ticket["upload_url"], content=data, headers=headers).raise_for_status()
        body = {"scene_sha256": sha, "frames": frames, "chunk_size": 100}
        response = self.api.post("/api/jobs", json=body, headers=auth)
        assert response.status_code == 202, response.text
        return str(response.json()["job_id"])

    def record(self, job_id: str) -> ChunkRecord | None:
        """The job's (only) chunk record as the worker wrote it."""
        jobs = self.blob_service.get_container_client(self.settings.jobs_container)
        return read_chunk_record(jobs, job_id, 0)[0]

    def client(self) -> ServiceBusClient:
        client = ServiceBusClient.from_connection_string(self.bus.connection_string)
        self.clients.append(client)
        return client

    def worker(
        self,
        renderer: BrokenBlender,
        *,
        lifecycle: Lifecycle | None = None,
        client: ServiceBusClient | None = None,
        **options: Any,
    ) -> Worker:
        stop = threading.Event()
        chunks = ChunkRenderer(
            storage=WorkerStorage(
                self.blob_service,
                scenes=self.settings.scenes_container,
                jobs=self.settings.jobs_container,
            ),
            cache=BlendCache(self.cache_dir, max_bytes=10**9),
            renderer=renderer,
            worker_id=f"test-{uuid.uuid4().hex[:6]}",
            blender_version="5.3.0",
            stop_requested=stop,
            lifecycle=lifecycle,
        )
        return Worker(
            client=client or self.client(),
            chunks=chunks,
            options=WorkerOptions(queue_name=QUEUE, receive_wait_s=0.5, **options),
            stop=stop,
        )


@pytest.fixture
def rig(azurite: Azurite, bus: ServiceBusEmulator, tmp_path: Path) -> Iterator[Rig]:
    suffix = uuid.uuid4().hex[:10]
    settings = Settings(
        storage_connection_string=azurite.connection_string,
        servicebus_connection_string=bus.connection_string,
        queue_name=QUEUE,
        scenes_container=f"scenes-{suffix}",
        jobs_container=f"jobs-{suffix}",
        api_key_hashes=f"studio={hash_key(API_KEY)}",
        rate_limit_per_minute=10_000,
    )
    with TestClient(create_app(settings=settings), raise_server_exceptions=False) as api:
        rig = Rig(
            settings=settings,
            api=api,
            blob_service=BlobServiceClient.from_connection_string(azurite.connection_string),
            bus=bus,
            cache_dir=tmp_path / "cache",
        )
        try:
            yield rig
        finally:
            for client in rig.clients:
                client.close()
            _drain(bus)


def _drain(bus: ServiceBusEmulator) -> None:
    """Leave the module's queue empty for the next test."""
    counts = bus.counts(QUEUE)
    left = {
        None: counts["total_message_count"] - counts["dead_letter_message_count"],
        ServiceBusSubQueue.DEAD_LETTER: counts["dead_letter_message_count"],
    }
    with ServiceBusClient.from_connection_string(bus.connection_string) as client:
        for sub_queue in (sub_queue for sub_queue, count in left.items() if count):
            with client.get_queue_receiver(
                QUEUE, sub_queue=sub_queue, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE
            ) as receiver:
                while receiver.receive_messages(max_message_count=100, max_wait_time=0.5):
                    pass


def run_bounded(worker: Worker, timeout_s: float = 60.0) -> RunEnd:
    """``worker.run()`` on a thread, failing the test if it hangs."""
    ended: list[RunEnd] = []
    thread = threading.Thread(target=lambda: ended.append(worker.run()), daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"the worker still runs after {timeout_s} s"
    assert ended, "the worker loop raised"
    return ended[0]


def test_unexpected_renderer_exception_abandons_the_message_at_once_and_records_the_error(
    rig: Rig, cycles_blend: Path
) -> None:
    job = rig.submit(cycles_blend, "1-2")
    blender = BrokenBlender(fails_in="render_frame", error=BLENDER_FAILURES[2][1])

    end = run_bounded(rig.worker(blender))

    assert end.handled == 1
    counts = rig.bus.counts(QUEUE)
    assert counts["locked_message_count"] == 0, "handed back, not left to its lock"
    with rig.client().get_queue_receiver(QUEUE) as receiver:
        (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=AT_ONCE_S)
        back_after = time.monotonic() - blender.raised_at[0]
        assert message.delivery_count == 1, "abandoned once"
        receiver.abandon_message(message)
    assert back_after < AT_ONCE_S < LOCK_S
    record = rig.record(job)
    assert record is not None
    assert record.state is ChunkState.PENDING
    assert record.attempts == 1
    error = record.last_error or ""
    assert error.startswith("StateInDoubt: Blender raised RuntimeError: Error: out of GPU memory")
    assert "000001.png" in error
    assert "/tmp" not in error, "no folder of the worker's is shown to clients"
    assert record.log_tail == "Read blend: scene.blend"


def test_a_worker_records_the_frames_an_earlier_attempt_left_in_blob(
    rig: Rig, cycles_blend: Path
) -> None:
    job = rig.submit(cycles_blend, "1-4")
    # An earlier attempt uploaded frame 2 and died before its record said so.
    jobs = rig.blob_service.get_container_client(rig.settings.jobs_container)
    jobs.upload_blob(layout.frame_blob(job, 2, "png"), b"frame 2")
    blender = BrokenBlender(fails_in="render_frame", error=BLENDER_FAILURES[2][1])

    run_bounded(rig.worker(blender))

    record = rig.record(job)
    assert record is not None
    assert (record.state, record.frames_done) == (ChunkState.PENDING, (2,))
    assert record.frame_seconds == {}, "found, not timed"
    status = rig.api.get(f"/api/jobs/{job}", headers={"Authorization": f"Bearer {API_KEY}"})
    assert (status.json()["frames_done"], status.json()["chunks"][0]["frames_done"]) == (1, 1)


@pytest.mark.parametrize(
    ("fails_in", "error"), BLENDER_FAILURES, ids=[f for f, _ in BLENDER_FAILURES]
)
def test_worker_exits_non_zero_when_blender_is_in_doubt(
    rig: Rig, cycles_blend: Path, fails_in: str, error: Exception
) -> None:
    first = rig.submit(cycles_blend, "1-2")
    second = rig.submit(cycles_blend, "3-4")

    end = run_bounded(rig.worker(BrokenBlender(fails_in=fails_in, error=error)))

    assert end.exit_code == EXIT_IN_DOUBT
    assert end.handled == 1, "no second message for a Blender in doubt"
    assert type(error).__name__ in end.in_doubt
    counts = rig.bus.counts(QUEUE)
    assert counts["active_message_count"] == 2, "both messages wait for a fresh replica"
    assert counts["locked_message_count"] == 0
    record = rig.record(first)
    assert record is not None
    assert (record.last_error or "").startswith("StateInDoubt: Blender raised")
    assert rig.record(second) is None, "never picked up"


def test_worker_exits_non_zero_when_memory_runs_out_outside_blender(
    rig: Rig, cycles_blend: Path
) -> None:
    rig.submit(cycles_blend, "1-2")

    class OutOfMemory(FlakyLifecycle):
        def record_start(self, job_id: str) -> None:
            raise MemoryError

    lifecycle = OutOfMemory(inner=_real_lifecycle(rig))
    end = run_bounded(rig.worker(BrokenBlender(), lifecycle=lifecycle))

    assert end.exit_code == EXIT_IN_DOUBT
    assert "out of memory" in end.in_doubt
    assert rig.bus.counts(QUEUE)["locked_message_count"] == 0


def test_worker_serves_the_next_message_after_an_unexpected_error(
    rig: Rig, cycles_blend: Path
) -> None:
    flaky, steady = rig.submit(cycles_blend, "1-2"), rig.submit(cycles_blend, "3-4")
    lifecycle = FlakyLifecycle(inner=_real_lifecycle(rig))

    # The flaky job's chunk fails, comes straight back and completes; then the steady one.
    end = run_bounded(rig.worker(BrokenBlender(), lifecycle=lifecycle, max_messages=3))

    assert lifecycle.failures == [flaky]
    assert end == RunEnd(handled=3)
    assert end.exit_code == 0
    record, other = rig.record(flaky), rig.record(steady)
    assert record is not None
    assert other is not None
    assert record.state is ChunkState.DONE
    assert record.attempts == 2
    assert record.last_error == "UnexpectedError: KeyError: 'started_at'"
    assert other.state is ChunkState.DONE
    assert other.attempts == 1
    assert rig.bus.counts(QUEUE)["total_message_count"] == 0


def test_worker_exits_non_zero_without_hanging_when_service_bus_is_gone(
    rig: Rig, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.json", QUEUES)
    with run_servicebus(tmp_path / "bus", config) as own_bus:
        client = ServiceBusClient.from_connection_string(own_bus.connection_string)
        rig.clients.append(client)
        worker = rig.worker(BrokenBlender(), client=client, max_receive_failures=2)
        ended: list[RunEnd] = []
        thread = threading.Thread(target=lambda: ended.append(worker.run()), daemon=True)
        thread.start()
        time.sleep(2)  # connected, waiting for messages
        assert thread.is_alive()
        own_bus.stop(signal.SIGKILL)
        gone = time.monotonic()
        thread.join(30)
        assert not thread.is_alive(), "the worker hangs with Service Bus gone"
    (end,) = ended
    assert end.exit_code == EXIT_IN_DOUBT
    assert "receiving failed 2 times in a row" in end.in_doubt
    assert time.monotonic() - gone < 30


def _real_lifecycle(rig: Rig) -> Lifecycle:
    return job_lifecycle(rig.settings, blob_service=rig.blob_service, bus=rig.client())
