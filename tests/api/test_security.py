"""API keys, tenant isolation, rate limits, the queued-frames cap and the body limit."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from azure.storage.blob import BlobServiceClient
from fastapi.testclient import TestClient

from renderfarm.shared import blob_layout as layout
from renderfarm.shared.settings import Settings
from testbed.emulators import Azurite, ServiceBusEmulator
from tests.api.conftest import SCENE_BYTES, auth, settings_for, upload_scene

PROTECTED = [
    ("POST", "/api/scenes"),
    ("POST", "/api/jobs"),
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/0123456789abcdef0123456789abcdef"),
    ("POST", "/api/jobs/0123456789abcdef0123456789abcdef/cancel"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-key"}, {"Authorization": "Basic YWNtZTp4"}],
    ids=["no-key", "unknown-key", "basic-auth"],
)
def test_every_route_but_health_needs_a_valid_key(
    client: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = client.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_tenant_never_sees_another_tenants_job(client: TestClient, scene: str) -> None:
    job = client.post("/api/jobs", json={"scene_sha256": scene, "frames": "1"}, headers=auth())
    job_id = job.json()["job_id"]
    assert client.get(f"/api/jobs/{job_id}", headers=auth("globex")).status_code == 404
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=auth("globex")).status_code == 404
    assert client.get("/api/jobs", headers=auth("globex")).json()["jobs"] == []
    assert client.get(f"/api/jobs/{job_id}", headers=auth("acme")).json()["state"] == "queued"


def test_the_same_idempotency_key_in_two_tenants_makes_two_jobs(
    client: TestClient, scene: str
) -> None:
    assert upload_scene(client, tenant="globex") == scene
    body = {"scene_sha256": scene, "frames": "1"}
    key = {"Idempotency-Key": "same"}
    acme = client.post("/api/jobs", json=body, headers={**key, **auth("acme")})
    globex = client.post("/api/jobs", json=body, headers={**key, **auth("globex")})
    assert acme.json()["job_id"] != globex.json()["job_id"]


def test_scene_uploaded_by_another_tenant_is_not_reported_as_stored(
    client: TestClient, settings: Settings, scene: str
) -> None:
    body = {"sha256": scene, "size": len(SCENE_BYTES)}
    ticket = client.post("/api/scenes", json=body, headers=auth("globex"))
    assert ticket.status_code == 200
    assert ticket.json()["exists"] is False
    assert ticket.json()["upload_url"]
    # globex's URL writes only globex's copy: bytes it PUTs there never replace acme's
    put = httpx.put(
        ticket.json()["upload_url"],
        content=b"x" * len(SCENE_BYTES),
        headers={"x-ms-blob-type": "BlockBlob"},
    )
    assert put.status_code == 201
    assert client.post("/api/scenes", json=body, headers=auth()).json()["exists"] is True
    assert settings.storage_connection_string
    with BlobServiceClient.from_connection_string(settings.storage_connection_string) as service:
        scenes = service.get_container_client(settings.scenes_container)
        stored = scenes.download_blob(layout.scene_blob("acme", scene)).readall()
    assert stored == SCENE_BYTES


def test_a_tenants_own_scene_is_still_deduplicated(client: TestClient, scene: str) -> None:
    body = {"sha256": scene, "size": len(SCENE_BYTES)}
    assert client.post("/api/scenes", json=body, headers=auth()).json()["exists"] is True
    assert upload_scene(client, tenant="globex") == scene
    assert client.post("/api/scenes", json=body, headers=auth("globex")).json()["exists"] is True


def test_job_naming_another_tenants_scene_is_refused_as_missing(
    client: TestClient, scene: str
) -> None:
    never_uploaded = hashlib.sha256(b"a scene nobody has").hexdigest()

    def refusal(sha256: str) -> dict[str, object]:
        response = client.post(
            "/api/jobs", json={"scene_sha256": sha256, "frames": "1"}, headers=auth("globex")
        )
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem: dict[str, object] = json.loads(response.text.replace(sha256, "<sha256>"))
        return problem

    assert refusal(scene) == refusal(never_uploaded)
    assert str(refusal(scene)["type"]).endswith("scene-not-found")
    accepted = client.post("/api/jobs", json={"scene_sha256": scene, "frames": "1"}, headers=auth())
    assert accepted.status_code == 202  # acme still renders its own scene


def test_over_the_rate_limit_answers_429_with_ratelimit_headers(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    client = make_client(settings_for(azurite, servicebus, rate_limit_per_minute=3))
    answers = [client.get("/api/jobs", headers=auth()) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    assert answers[2].headers["RateLimit-Remaining"] == "0"
    refused = answers[3]
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) >= 1
    assert int(refused.headers["RateLimit-Reset"]) >= 1
    assert client.get("/api/jobs", headers=auth("globex")).status_code == 200  # per key


def test_a_tenant_over_its_queued_frames_cap_is_refused_until_frames_render(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    client = make_client(settings_for(azurite, servicebus, max_queued_frames_per_tenant=100))
    scene = upload_scene(client)
    first = client.post("/api/jobs", json={"scene_sha256": scene, "frames": "1-80"}, headers=auth())
    assert first.status_code == 202
    second = client.post(
        "/api/jobs", json={"scene_sha256": scene, "frames": "1-30"}, headers=auth()
    )
    assert second.status_code == 429
    assert second.json()["type"].endswith("queued-frames-cap")
    assert (second.json()["waiting"], second.json()["cap"]) == (80, 100)
    assert "Retry-After" in second.headers
    upload_scene(client, tenant="globex")
    other = client.post(
        "/api/jobs", json={"scene_sha256": scene, "frames": "1-30"}, headers=auth("globex")
    )
    assert other.status_code == 202  # the cap is per tenant
    client.post(f"/api/jobs/{first.json()['job_id']}/cancel", headers=auth())
    third = client.post("/api/jobs", json={"scene_sha256": scene, "frames": "1-30"}, headers=auth())
    assert third.status_code == 202


def test_a_body_over_the_limit_is_refused_with_413(client: TestClient) -> None:
    big = b'{"frames": "' + b"1," * 40_000 + b'1"}'
    response = client.post(
        "/api/jobs", content=big, headers={**auth(), "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_a_streamed_body_over_the_limit_is_refused_with_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = client.post(
        "/api/jobs", content=chunks(), headers={**auth(), "content-type": "application/json"}
    )
    assert response.status_code == 413
