"""Fixtures for tests over the wire: the API on Azurite and the Service Bus emulator.

Each test gets its own containers, so jobs and scenes never leak between tests; the queue is
shared, so tests read back only their own job's messages.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.servicebus import ServiceBusClient, ServiceBusReceivedMessage
from azure.storage.blob import BlobServiceClient, ContainerClient
from fastapi.testclient import TestClient

from renderfarm.keys.api_keys import hash_key
from renderfarm.shared.settings import ENV_PREFIX, Settings
from renderfarm_local.services import api_spec, http_json
from renderfarm_local.supervisor import ManagedProcess
from testbed.emulators import Azurite, ServiceBusEmulator, free_port
from testbed.scenes import whole_blend

KEYS = {"acme": "rf_acme-test-key-0001", "globex": "rf_globex-test-key-0002"}
SCENE_BYTES = whole_blend(b"BLENDER-v500", b"\0" * 4096)
START_TIMEOUT_S = 30.0


def auth(tenant: str = "acme") -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[tenant]}"}


def settings_for(azurite: Azurite, servicebus: ServiceBusEmulator, **overrides: Any) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    fields: dict[str, Any] = {
        "storage_connection_string": azurite.connection_string,
        "servicebus_connection_string": servicebus.connection_string,
        "queue_name": servicebus.queue_name,
        "scenes_container": f"scenes-{suffix}",
        "jobs_container": f"jobs-{suffix}",
        "api_key_hashes": ",".join(f"{t}={hash_key(k)}" for t, k in KEYS.items()),
        "rate_limit_per_minute": 10_000,
        "max_request_bytes": 64 * 1024,
        **overrides,
    }
    return Settings(**fields)


@pytest.fixture(scope="module")
def api_url(
    azurite: Azurite, servicebus: ServiceBusEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The API as deployed, under uvicorn on a free port: its own containers, the shared
    emulators. For tests of the wire itself (schemathesis, a generated client)."""
    settings = settings_for(azurite, servicebus, max_queued_frames_per_tenant=5_000)
    env = {
        ENV_PREFIX + name.upper(): str(value)
        for name, value in settings.model_dump(exclude_unset=True).items()
    }
    port = free_port()
    log = tmp_path_factory.mktemp("api") / "api.log"
    api = ManagedProcess(api_spec(port=port, env=env, log_path=log))
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: http_json(f"{url}/api/health") is not None, api, log)
        yield url
    finally:
        api.stop()


def _wait_for(ready: Callable[[], bool], api: ManagedProcess, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if not api.is_running() or time.monotonic() > deadline:
            pytest.fail(f"the API did not start:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.1)


@pytest.fixture
def settings(azurite: Azurite, servicebus: ServiceBusEmulator) -> Settings:
    return settings_for(azurite, servicebus)


@pytest.fixture
def client(settings: Settings, make_client: Callable[[Settings], TestClient]) -> TestClient:
    return make_client(settings)


@pytest.fixture
def jobs_container(settings: Settings) -> Iterator[ContainerClient]:
    assert settings.storage_connection_string
    service = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    yield service.get_container_client(settings.jobs_container)
    service.close()


def upload_scene(client: TestClient, data: bytes = SCENE_BYTES, *, tenant: str = "acme") -> str:
    """Upload through the API's SAS URL, as a client would; returns the scene's sha256."""
    sha256 = hashlib.sha256(data).hexdigest()
    ticket = client.post(
        "/api/scenes", json={"sha256": sha256, "size": len(data)}, headers=auth(tenant)
    )
    assert ticket.status_code == 200, ticket.text
    if not ticket.json()["exists"]:
        put = httpx.put(
            ticket.json()["upload_url"], content=data, headers=ticket.json()["upload_headers"]
        )
        assert put.status_code == 201, put.text
    return sha256


@pytest.fixture
def scene(client: TestClient) -> str:
    return upload_scene(client)


def properties_of(message: ServiceBusReceivedMessage) -> dict[str, str]:
    """Application properties as text (the SDK hands back bytes)."""
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in (message.application_properties or {}).items()
    }


def drain_messages(
    servicebus: ServiceBusEmulator, job_id: str, *, expected: int, queue: str | None = None
) -> list[ServiceBusReceivedMessage]:
    """Receive and complete queued messages until ``expected`` of this job's have come, from
    ``queue`` (by default the pool's normal-priority queue)."""
    found: list[ServiceBusReceivedMessage] = []
    with (
        ServiceBusClient.from_connection_string(servicebus.connection_string) as bus,
        bus.get_queue_receiver(queue or servicebus.queue_name) as receiver,
    ):
        for _ in range(50):
            batch = receiver.receive_messages(max_message_count=100, max_wait_time=1)
            for message in batch:
                receiver.complete_message(message)
                if str(message.message_id).startswith(f"{job_id}:"):
                    found.append(message)
            if len(found) >= expected or not batch:
                break
    return found
