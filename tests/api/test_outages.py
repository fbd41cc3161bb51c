"""When Blob Storage or Service Bus is down: 503 with Retry-After, and never a half-sent job."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from renderfarm.shared.settings import Settings
from testbed.emulators import Azurite, ServiceBusEmulator, free_port, servicebus_connection_string
from tests.api.conftest import auth, settings_for, upload_scene


def test_service_bus_down_gives_503_and_a_job_that_says_it_failed_to_enqueue(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    down = servicebus_connection_string(free_port())
    client = make_client(settings_for(azurite, servicebus, servicebus_connection_string=down))
    scene = upload_scene(client)
    response = client.post(
        "/api/jobs", json={"scene_sha256": scene, "frames": "1-5"}, headers=auth()
    )
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) >= 1
    status = client.get(response.json()["status_url"], headers=auth()).json()
    assert status["state"] == "failed"
    assert "service bus" in status["error"]
    health = client.get("/api/health")
    assert health.status_code == 503
    assert health.json()["service_bus"] == "unavailable"
    assert health.json()["blob_storage"] == "ok"


def test_repeated_service_bus_failures_open_the_circuit(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    down = servicebus_connection_string(free_port())
    client = make_client(settings_for(azurite, servicebus, servicebus_connection_string=down))
    scene = upload_scene(client)
    details = []
    for _ in range(7):
        response = client.post(
            "/api/jobs", json={"scene_sha256": scene, "frames": "1"}, headers=auth()
        )
        assert response.status_code == 503
        details.append(response.json()["detail"])
    assert any("circuit open" in d for d in details[5:]), details


def test_blob_storage_down_gives_503_with_retry_after(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    down = azurite.connection_string.replace(str(azurite.blob_port), str(free_port()))
    client = make_client(settings_for(azurite, servicebus, storage_connection_string=down))
    for path in ("/api/jobs", "/api/jobs/0123456789abcdef0123456789abcdef"):
        response = client.get(path, headers=auth())
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["Retry-After"]) >= 1
