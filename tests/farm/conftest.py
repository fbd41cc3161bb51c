"""A small farm for end-to-end tests: Azurite, the emulator with a short lock, the API in-process
(TestClient) and workers as real `python -m containerapp_worker` processes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.servicebus import ServiceBusClient, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.storage.blob import BlobServiceClient, ContainerClient
from fastapi.testclient import TestClient

from renderfarm.keys.api_keys import hash_key
from renderfarm.shared.settings import Settings
from renderfarm_local.services import python_env
from testbed.emulators import (
    REPO,
    Azurite,
    ServiceBusEmulator,
    run_servicebus,
    stop_process,
    write_config,
)
from testbed.scenes import build_cycles_scene, write_corrupt_blend
from webapp.app import create_app

API_KEY = "rf_farm-test-key-0001"
TENANT = "studio"
LOCK_SECONDS = 3  # short, so a killed worker's chunk comes back quickly
WAIT_S = 90.0
EVENTS_QUEUE = "job-events"


@pytest.fixture(scope="session")
def farm_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceBusEmulator]:
    folder = tmp_path_factory.mktemp("farm-bus")
    config = write_config(
        folder / "config.json",
        {
            "render-chunks-5.3": {
                "LockDuration": f"PT{LOCK_SECONDS}S",
                "MaxDeliveryCount": 3,
                "RequiresDuplicateDetection": True,
                "DuplicateDetectionHistoryTimeWindow": "PT10M",
                "DeadLetteringOnMessageExpiration": True,
            },
            # What the API and the workers say about jobs (renderfarm.jobs.events).
            EVENTS_QUEUE: {
                "RequiresDuplicateDetection": True,
                "DuplicateDetectionHistoryTimeWindow": "PT10M",
            },
        },
    )
    with run_servicebus(folder / "data", config) as service:
        yield service


@dataclass(kw_only=True)
class Farm:
    settings: Settings
    api: TestClient
    jobs: ContainerClient
    cache_dir: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        s = self.settings
        return python_env(
            {
                "RENDERFARM_STORAGE_CONNECTION_STRING": s.storage_connection_string or "",
                "RENDERFARM_SERVICEBUS_CONNECTION_STRING": s.servicebus_connection_string or "",
                "RENDERFARM_QUEUE_NAME": s.queue_name or "",
                "RENDERFARM_SCENES_CONTAINER": s.scenes_container,
                "RENDERFARM_JOBS_CONTAINER": s.jobs_container,
                "RENDERFARM_BLEND_CACHE_DIR": str(self.cache_dir),
            }
        )

    def start_worker(self, *args: str) -> subprocess.Popen[bytes]:
        """A worker whose JSON log goes to a file beside its blend cache (a pipe nobody read
        would fill, and block the worker on its next log line)."""
        log_path = self.cache_dir.parent / f"worker-{len(self.workers) + 1}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "containerapp_worker", *args],
                cwd=REPO,
                env=self.env(),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.workers.append(process)
        return process

    def wait_until_ready(self, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
        """Until the worker says it waits for messages: its receivers are open (a fixed sleep
        is not enough on a loaded machine, where its imports alone can take seconds)."""
        log_path = self.cache_dir.parent / f"worker-{self.workers.index(process) + 1}.log"
        deadline = time.monotonic() + timeout
        while b"worker ready" not in (log_path.read_bytes() if log_path.exists() else b""):
            assert process.poll() is None, f"the worker exited {process.returncode}"
            assert time.monotonic() < deadline, "the worker never said it was ready"
            time.sleep(0.1)

    def upload_scene(self, path: Path) -> str:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        ticket = self.api.post(
            "/api/scenes", json={"sha256": sha, "size": len(data)}, headers=auth()
        ).json()
        if not ticket["exists"]:
            response = httpx.put(
                ticket["upload_url"], content=data, headers=ticket.get("upload_headers") or {}
            )
            response.raise_for_status()
        return sha

    def submit(self, sha: str, **job: Any) -> str:
        response = self.api.post("/api/jobs", json={"scene_sha256": sha, **job}, headers=auth())
        assert response.status_code == 202, response.text
        return str(response.json()["job_id"])

    def status(self, job_id: str) -> dict[str, Any]:
        response = self.api.get(f"/api/jobs/{job_id}", headers=auth())
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_for(
        self, job_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = WAIT_S
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(job_id)
            if done(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"job never got there: {status}")
            time.sleep(0.2)

    def frame_blobs(self, job_id: str) -> list[str]:
        return sorted(self.jobs.list_blob_names(name_starts_with=f"{job_id}/frames/"))


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def farm(azurite: Azurite, farm_bus: ServiceBusEmulator, tmp_path: Path) -> Iterator[Farm]:
    suffix = uuid.uuid4().hex[:10]
    settings = Settings(
        storage_connection_string=azurite.connection_string,
        servicebus_connection_string=farm_bus.connection_string,
        queue_name=farm_bus.queue_name,
        scenes_container=f"scenes-{suffix}",
        jobs_container=f"jobs-{suffix}",
        api_key_hashes=f"{TENANT}={hash_key(API_KEY)}",
        rate_limit_per_minute=10_000,
    )
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    with TestClient(create_app(settings=settings), raise_server_exceptions=False) as api:
        farm = Farm(
            settings=settings,
            api=api,
            jobs=service.get_container_client(settings.jobs_container),
            cache_dir=tmp_path / "cache",
        )
        try:
            yield farm
        finally:
            for worker in farm.workers:
                stop_process(worker)
            _drain(farm_bus)


def _drain(bus: ServiceBusEmulator) -> None:
    """Leave the shared queue empty for the next test (its jobs' containers are gone anyway)."""
    with ServiceBusClient.from_connection_string(bus.connection_string) as client:
        for sub_queue in (None, ServiceBusSubQueue.DEAD_LETTER):
            with client.get_queue_receiver(
                bus.queue_name,
                sub_queue=sub_queue,
                receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE,
            ) as receiver:
                while receiver.receive_messages(max_message_count=100, max_wait_time=0.5):
                    pass


@pytest.fixture(scope="session")
def scene_blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_cycles_scene(tmp_path_factory.mktemp("farm-scenes") / "small.blend")


@pytest.fixture(scope="session")
def corrupt_blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corrupt_blend(tmp_path_factory.mktemp("farm-corrupt") / "corrupt.blend")
