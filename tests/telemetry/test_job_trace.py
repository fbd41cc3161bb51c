"""Telemetry over the wire: the API under uvicorn and a real worker export to a stand-in for
Application Insights ingestion, and one job reads as one trace there.

POST /api/jobs (request) -> submit_job -> the Service Bus send (dependency) -> the worker's
process-chunk-message -> render-chunk -> render-frame spans and the frames' Blob uploads, all
under one operation id with each parent link in place; the chunk's worker seconds as a metric;
the log lines with the job id and the operation id.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from azure.servicebus import ServiceBusClient, ServiceBusReceiveMode

from renderfarm.keys.api_keys import hash_key
from renderfarm.shared.settings import ENV_PREFIX, Settings
from renderfarm_local.services import api_spec, http_json, python_env
from renderfarm_local.supervisor import ManagedProcess
from testbed.emulators import REPO, Azurite, ServiceBusEmulator, free_port, stop_process
from testbed.scenes import build_cycles_scene
from tests.telemetry.sink import (
    COLUMNS,
    DEPENDENCY,
    JOB_DIMENSIONS,
    MESSAGE,
    METRIC,
    REQUEST,
    Envelope,
    Sink,
    fast_export_env,
    run_sink,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

KEY = "rf_telemetry-test-key-01"
TENANT = "studio"
FRAMES = (1, 2, 3)
START_S = 30.0
WORKER_S = 120.0
ARRIVE_S = 20.0
#: The histogram the worker records once per settled chunk (containerapp_worker/telemetry.py).
WORKER_SECONDS = "renderfarm.worker.chunk_worker_seconds"
QUEUE = "render-chunks-5.3"


@dataclass(frozen=True)
class Exported:
    """Everything the sink received once the API and the worker had exited."""

    job_id: str
    envelopes: list[Envelope]

    def of(self, kind: str) -> list[Envelope]:
        return [e for e in self.envelopes if e.name == kind]

    def spans(self) -> list[Envelope]:
        return self.of(REQUEST) + self.of(DEPENDENCY)

    def span(self, name: str, target_suffix: str = "") -> Envelope:
        found = [
            e
            for e in self.spans()
            if e.data.get("name") == name and e.data.get("target", "").endswith(target_suffix)
        ]
        assert len(found) == 1, (name, [e.data.get("name") for e in self.spans()])
        return found[0]

    def children_of(self, parent: Envelope) -> list[Envelope]:
        return [e for e in self.spans() if e.parent_id == parent.data["id"]]


@pytest.fixture(scope="module")
def exported(
    azurite: Azurite, servicebus: ServiceBusEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Exported]:
    folder = tmp_path_factory.mktemp("telemetry")
    scene = build_cycles_scene(folder / "small.blend")
    suffix = uuid.uuid4().hex[:10]
    settings = Settings(
        storage_connection_string=azurite.connection_string,
        servicebus_connection_string=servicebus.connection_string,
        queue_name=servicebus.queue_name,
        scenes_container=f"scenes-{suffix}",
        jobs_container=f"jobs-{suffix}",
        api_key_hashes=f"{TENANT}={hash_key(KEY)}",
        rate_limit_per_minute=10_000,
    )
    farm_env = {
        ENV_PREFIX + name.upper(): str(value)
        for name, value in settings.model_dump(exclude_unset=True).items()
    }
    _drain(servicebus)  # the worker must take this test's chunk, not one another test left
    with run_sink() as sink:
        env = {**farm_env, **fast_export_env(sink, str(folder))}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        api = ManagedProcess(api_spec(port=port, env=env, log_path=folder / "api.log"))
        try:
            _wait(lambda: http_json(f"{url}/api/health") is not None, START_S, folder / "api.log")
            job_id = _submit(url, scene)
            _run_worker(env, folder)
        finally:
            api.stop()  # SIGTERM: uvicorn returns, and the SDK's atexit hooks flush
        _wait(lambda: _settled(sink), ARRIVE_S, folder / "api.log")
        yield Exported(job_id=job_id, envelopes=sink.received())


def _submit(url: str, scene: Path) -> str:
    data = scene.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    headers = {"Authorization": f"Bearer {KEY}"}
    ticket = httpx.post(
        f"{url}/api/scenes", json={"sha256": sha, "size": len(data)}, headers=headers
    ).json()
    if not ticket["exists"]:
        httpx.put(
            ticket["upload_url"], content=data, headers=ticket.get("upload_headers") or {}
        ).raise_for_status()
    response = httpx.post(
        f"{url}/api/jobs",
        json={"scene_sha256": sha, "frames": f"{FRAMES[0]}-{FRAMES[-1]}", "chunk_size": 3},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def _run_worker(env: dict[str, str], folder: Path) -> None:
    """One worker takes the job's one chunk and exits 0, flushing its telemetry at exit."""
    log = folder / "worker.log"
    with log.open("ab") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "containerapp_worker", "--max-messages", "1"],
            cwd=REPO,
            env=python_env({**env, "RENDERFARM_BLEND_CACHE_DIR": str(folder / "cache")}),
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    try:
        code = worker.wait(WORKER_S)
    except subprocess.TimeoutExpired:
        code = stop_process(worker)
    assert code == 0, log.read_text(errors="replace")[-4000:]


def _settled(sink: Sink) -> bool:
    """The worker's last items and the API's have arrived (each exports at its exit)."""
    names = {e.data.get("name") for e in sink.received(DEPENDENCY) + sink.received(REQUEST)}
    metrics = {m.get("name") for e in sink.received(METRIC) for m in e.data.get("metrics", [])}
    return {"render-chunk", "POST /api/jobs"} <= names and WORKER_SECONDS in metrics


def _wait(ready: Callable[[], bool], timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out; the API's log:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)


def _drain(bus: ServiceBusEmulator) -> None:
    with (
        ServiceBusClient.from_connection_string(bus.connection_string) as client,
        client.get_queue_receiver(
            bus.queue_name, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE
        ) as receiver,
    ):
        while receiver.receive_messages(max_message_count=100, max_wait_time=0.5):
            pass


# --- the trace ----------------------------------------------------------------------------


def test_one_trace_from_the_request_to_the_frame_uploads(exported: Exported) -> None:
    request = exported.span("POST /api/jobs")
    trace_id = request.operation_id
    assert trace_id
    submit = exported.span("submit_job")
    assert submit.parent_id == request.data["id"]

    # The SDK's own spans: one per message (its context goes in the message), one per batch sent.
    sends = [
        e
        for e in exported.children_of(submit)
        if "Microsoft.ServiceBus" in e.data.get("type", "")
        and e.data.get("target", "").endswith(f"/{QUEUE}")
    ]
    assert {e.data.get("name") for e in sends} == {"ServiceBus.message", "ServiceBus.send"}

    process = exported.span("process-chunk-message")
    chunk = exported.span("render-chunk")
    assert chunk.parent_id == process.data["id"]
    assert chunk.properties["job.id"] == exported.job_id
    frames = [e for e in exported.children_of(chunk) if e.data.get("name") == "render-frame"]
    assert sorted(int(e.properties["frame"]) for e in frames) == list(FRAMES)

    # Each frame's PUT (the HTTP dependency) under the SDK's upload_blob span, under the chunk.
    uploads = [
        e
        for e in exported.of(DEPENDENCY)
        if e.data.get("type") == "HTTP"
        and e.data.get("name", "").startswith("PUT ")
        and f"/{exported.job_id}/frames/" in e.data.get("data", "")
    ]
    assert len(uploads) == len(FRAMES), [e.data.get("data") for e in exported.of(DEPENDENCY)]
    by_id = {e.data["id"]: e for e in exported.spans()}
    for upload in uploads:
        assert by_id[upload.parent_id].parent_id == chunk.data["id"]

    # The ASGI instrumentation's per-message spans are left out (two per request, no news).
    assert not [
        e for e in exported.spans() if e.data.get("name", "").endswith((" send", " receive"))
    ]

    # One operation: every span of the job's request and of its chunk carries the same id.
    for span in (submit, *sends, process, chunk, *frames, *uploads):
        assert span.operation_id == trace_id, span.data.get("name")


def test_the_chunk_message_continues_the_trace_the_send_started(exported: Exported) -> None:
    """The worker's work and its settling hang under the message's span in the API."""
    message = exported.span("ServiceBus.message", target_suffix=f"/{QUEUE}")
    assert exported.span("process-chunk-message").parent_id == message.data["id"]
    settle = exported.span("ServiceBus.complete")
    assert settle.parent_id == message.data["id"]
    assert settle.tags.get("ai.cloud.role") == "renderfarm-worker"


def test_the_api_and_the_worker_are_told_apart(exported: Exported) -> None:
    roles = {
        exported.span("POST /api/jobs").tags.get("ai.cloud.role"),
        exported.span("render-chunk").tags.get("ai.cloud.role"),
    }
    assert roles == {"renderfarm-api", "renderfarm-worker"}


# --- metrics and logs ---------------------------------------------------------------------


def test_each_chunk_reports_its_worker_seconds(exported: Exported) -> None:
    points = [
        (metric, e.properties)
        for e in exported.of(METRIC)
        for metric in e.data.get("metrics", [])
        if metric.get("name") == WORKER_SECONDS
    ]
    assert len(points) == 1, points
    metric, dimensions = points[0]
    assert metric["count"] == 1
    assert metric["value"] > 0
    assert dimensions["verdict"] == "complete"
    assert dimensions["blender"]
    assert exported.job_id not in dimensions.values()  # one series per job would not scale


def test_the_logs_carry_the_job_and_the_operation(exported: Exported) -> None:
    trace_id = exported.span("POST /api/jobs").operation_id
    lines = [e for e in exported.of(MESSAGE) if e.properties.get("job_id") == exported.job_id]
    loggers = {e.properties.get("logger_name") for e in lines}
    assert "renderfarm.api.requests" in loggers
    assert "containerapp_worker.chunk_renderer" in loggers
    for line in lines:
        assert line.operation_id == trace_id, (line.data.get("message"), line.properties)


# --- what infra/queries/job-timeline.kql reads -------------------------------------------


def test_every_column_the_queries_may_name_is_sent(exported: Exported) -> None:
    trace_id = exported.span("POST /api/jobs").operation_id
    job = [e for e in exported.envelopes if e.operation_id == trace_id]
    missing = [
        column
        for column, path in COLUMNS.items()
        if not any(e.field(path) not in (None, "", {}) for e in job)
    ]
    assert missing == []
    named = {key for e in job for key, value in e.properties.items() if value == exported.job_id}
    assert named >= set(JOB_DIMENSIONS)
