"""kill -9 of the events consumer while it builds a job's previews loses no event and leaves no
half-written preview: the message comes back, and the restarted consumer finishes the work."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import av
import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.storage.blob import BlobServiceClient, ContainerClient

from emulators.servicebus.config import BUNDLED_CONFIG
from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.shared import blob_layout as layout
from renderfarm_azure.event_publisher import to_servicebus
from renderfarm_local.services import REPO, python_env
from testbed.emulators import Azurite, ServiceBusEmulator, run_servicebus, stop_process
from tests.previews.conftest import job_manifest, put_job, store

pytestmark = pytest.mark.timeout(180)
FRAMES = 48
WAIT_S = 60.0
#: The job-events lock here: the killed consumer's message comes back after it, not after the
#: bundled config's minute.
LOCK = "PT5S"


@pytest.fixture
def servicebus(tmp_path: Path) -> Iterator[ServiceBusEmulator]:
    """This test's own emulator: the bundled queues, with a short lock on job-events."""
    config = json.loads(Path(BUNDLED_CONFIG).read_text())
    for namespace in config["UserConfig"]["Namespaces"]:
        for queue in namespace["Queues"]:
            if queue["Name"] == "job-events":
                queue["Properties"]["LockDuration"] = LOCK
    path = tmp_path / "servicebus.json"
    path.write_text(json.dumps(config))
    (tmp_path / "servicebus-data").mkdir()
    with run_servicebus(tmp_path / "servicebus-data", path) as bus:
        yield bus


@pytest.fixture
def containers(azurite: Azurite) -> Iterator[tuple[str, ContainerClient]]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    suffix = uuid.uuid4().hex[:10]
    jobs = service.create_container(f"jobs-{suffix}")
    yield suffix, jobs
    service.close()


def start_consumer(
    azurite: Azurite, bus: ServiceBusEmulator, suffix: str, log: Path
) -> subprocess.Popen[bytes]:
    env = python_env(
        {
            "RENDERFARM_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "RENDERFARM_SERVICEBUS_CONNECTION_STRING": bus.connection_string,
            "RENDERFARM_JOBS_CONTAINER": f"jobs-{suffix}",
            "RENDERFARM_SCENES_CONTAINER": f"scenes-{suffix}",
            "RENDERFARM_WEBHOOKS_CONTAINER": f"webhooks-{suffix}",
            "RENDERFARM_API_KEY_HASHES": "acme=" + "0" * 64,
        }
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "functions.events"], cwd=REPO, env=env, stderr=out
        )


def test_a_consumer_killed_mid_preview_loses_nothing_and_leaves_nothing_half_written(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    containers: tuple[str, ContainerClient],
    tmp_path: Path,
) -> None:
    suffix, jobs = containers
    manifest = job_manifest(f"1-{FRAMES}")
    put_job(jobs, manifest)
    event = JobEvent(
        type=EventType.JOB_COMPLETED,
        job_id=manifest.job_id,
        tenant=manifest.tenant,
        at=datetime.now(UTC),
    )
    with (
        ServiceBusClient.from_connection_string(servicebus.connection_string) as bus,
        bus.get_queue_sender("job-events") as sender,
    ):
        message: ServiceBusMessage = to_servicebus(event)
        sender.send_messages(message)
    log = tmp_path / "consumer.log"
    first = start_consumer(azurite, servicebus, suffix, log)
    sheet = jobs.get_blob_client(layout.contact_sheet_blob(manifest.job_id))
    deadline = time.monotonic() + WAIT_S
    while not sheet.exists():  # the work has begun: kill it now
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.01)
    stop_process(first, signal.SIGKILL)
    # Whatever was uploaded by then is whole: each preview is uploaded in one piece.
    video = jobs.get_blob_client(layout.preview_video_blob(manifest.job_id))
    if video.exists():
        assert decoded_frames(video.download_blob().readall(), tmp_path / "early.mp4") == FRAMES

    second = start_consumer(azurite, servicebus, suffix, log)
    try:
        # The killed consumer's lock runs out, and the event comes back.
        deadline = time.monotonic() + WAIT_S
        while store(jobs).read_manifest(manifest.job_id).manifest.previews_at is None:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        stop_process(second)
    body = jobs.download_blob(layout.preview_video_blob(manifest.job_id)).readall()
    assert decoded_frames(body, tmp_path / "preview.mp4") == FRAMES
    assert sheet.exists()


def decoded_frames(body: bytes, path: Path) -> int:
    path.write_bytes(body)
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))
