"""Bad input of every kind gets a 4xx problem+json naming the field, never a 500."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import httpx
import pytest
from azure.storage.blob import BlobServiceClient
from fastapi.testclient import TestClient

from renderfarm.shared import blob_layout as layout
from renderfarm.shared.settings import Settings
from tests.api.conftest import auth

JOB = "0123456789abcdef0123456789abcdef"


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert {"type", "title"} <= body.keys()
    if field is not None:
        assert field in {e["field"] for e in body["errors"]}, body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"frames": "1-10"}, "scene_sha256"),
        ({"scene_sha256": "z" * 64, "frames": "1"}, "scene_sha256"),
        ({"scene_sha256": "a" * 64}, "frames"),
        ({"scene_sha256": "a" * 64, "frames": "1-2000000"}, "frames"),
        ({"scene_sha256": "a" * 64, "frames": 5}, "frames"),
        ({"scene_sha256": "a" * 64, "frames": "1", "step": -1}, "step"),
        ({"scene_sha256": "a" * 64, "frames": "1", "chunk_size": 0}, "chunk_size"),
        ({"scene_sha256": "a" * 64, "frames": "1", "priority": "urgent"}, "priority"),
        ({"scene_sha256": "a" * 64, "frames": "1", "priority": 12}, "priority"),
        ({"scene_sha256": "a" * 64, "frames": "1", "priority": True}, "priority"),
        ({"scene_sha256": "a" * 64, "frames": "1", "priority": "HIGH"}, "priority"),
        ({"scene_sha256": "a" * 64, "frames": "1", "render": {"device": "TPU"}}, "render.device"),
        ({"scene_sha256": "a" * 64, "frames": "1", "render": {"device": "gpu"}}, "render.device"),
        ({"scene_sha256": "a" * 64, "frames": "1", "render": {"engine": "EEVEE"}}, "render.engine"),
        ({"scene_sha256": "a" * 64, "frames": "1", "render": {"samples": 0}}, "render.samples"),
        (
            {"scene_sha256": "a" * 64, "frames": "1", "render": {"output_format": "BMP"}},
            "render.output_format",
        ),
        ({"scene_sha256": "a" * 64, "frames": "1", "render": "fast"}, "render"),
        ({"scene_sha256": "a" * 64, "frames": "1", "tenant": "globex"}, "tenant"),
        # JSON's false, "5" and true are not the integers the schema says (pydantic read 0, 5, 1)
        ({"scene_sha256": "a" * 64, "frames": "1", "priority": False}, "priority"),
        ({"scene_sha256": "a" * 64, "frames": "1", "chunk_size": "5"}, "chunk_size"),
        ({"scene_sha256": "a" * 64, "frames": "1", "render": {"samples": True}}, "render.samples"),
        # the frame syntax is the schema's pattern: ASCII digits, spaces only around items
        ({"scene_sha256": "a" * 64, "frames": "\u0661-\u0665"}, "frames"),
        ({"scene_sha256": "a" * 64, "frames": "1-5\t"}, "frames"),
        ({"scene_sha256": "a" * 64, "frames": "1", "blender": "05.3"}, "blender"),
        ({"scene_sha256": "a" * 64, "frames": "1", "render": {"camera": "Cam\n"}}, "render.camera"),
    ],
)
def test_each_bad_job_field_is_named(client: TestClient, body: dict[str, Any], field: str) -> None:
    assert_problem(client.post("/api/jobs", json=body, headers=auth()), 422, field)


def test_a_gpu_job_on_a_farm_without_gpu_workers_is_refused(client: TestClient) -> None:
    body = {"scene_sha256": "a" * 64, "frames": "1", "render": {"device": "GPU"}}
    response = client.post("/api/jobs", json=body, headers=auth())
    assert_problem(response, 409, "render.device")
    assert response.json()["type"].endswith("no-gpu-workers")


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b""])
def test_a_body_that_is_not_a_json_object_is_refused(client: TestClient, raw: bytes) -> None:
    response = client.post(
        "/api/jobs", content=raw, headers={**auth(), "content-type": "application/json"}
    )
    assert response.status_code in {400, 422}
    assert response.headers["content-type"] == "application/problem+json"


def test_a_scene_that_was_never_uploaded_is_not_found(client: TestClient) -> None:
    response = client.post(
        "/api/jobs", json={"scene_sha256": "b" * 64, "frames": "1"}, headers=auth()
    )
    assert_problem(response, 404, "scene_sha256")
    assert response.json()["type"].endswith(":scene-not-found")


def test_a_scene_whose_bytes_do_not_match_its_hash_is_refused_and_removed(
    client: TestClient, settings: Settings
) -> None:
    claimed = hashlib.sha256(b"what was promised").hexdigest()
    ticket = client.post("/api/scenes", json={"sha256": claimed, "size": 9}, headers=auth()).json()
    httpx.put(ticket["upload_url"], content=b"something", headers=ticket["upload_headers"])
    response = client.post(
        "/api/jobs", json={"scene_sha256": claimed, "frames": "1"}, headers=auth()
    )
    assert_problem(response, 422, "scene_sha256")
    assert settings.storage_connection_string
    service = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    blob = service.get_blob_client(settings.scenes_container, layout.scene_blob("acme", claimed))
    assert not blob.exists()


@pytest.mark.parametrize(
    ("method", "path", "params", "field"),
    [
        ("GET", "/api/jobs/not-a-job", {}, "job_id"),
        ("GET", f"/api/jobs/{JOB}", {"frames_limit": "-1"}, "frames_limit"),
        ("GET", f"/api/jobs/{JOB}", {"frames_offset": "x"}, "frames_offset"),
        ("GET", "/api/jobs", {"state": "exploded"}, "state"),
        ("GET", "/api/jobs", {"limit": "0"}, "limit"),
        ("GET", "/api/jobs", {"cursor": "not a cursor"}, "cursor"),
        ("POST", "/api/jobs/XYZ/cancel", {}, "job_id"),
    ],
)
def test_bad_path_and_query_values_are_named(
    client: TestClient, method: str, path: str, params: dict[str, str], field: str
) -> None:
    assert_problem(client.request(method, path, params=params, headers=auth()), 422, field)


def test_a_cursor_this_api_never_gave_is_a_400(client: TestClient) -> None:
    response = client.get("/api/jobs", params={"cursor": "forged!token"}, headers=auth())
    assert response.status_code in {200, 400}  # Azurite may accept any marker
    if response.status_code == 400:
        assert_problem(response, 400, "cursor")


def test_an_unknown_job_is_404(client: TestClient) -> None:
    assert_problem(client.get(f"/api/jobs/{JOB}", headers=auth()), 404)


def test_a_bad_idempotency_key_is_named(client: TestClient, scene: str) -> None:
    response = client.post(
        "/api/jobs",
        json={"scene_sha256": scene, "frames": "1"},
        headers={**auth(), "Idempotency-Key": "has spaces in it"},
    )
    assert_problem(response, 422, "Idempotency-Key")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sha256": "a" * 63, "size": 1}, "sha256"),
        ({"sha256": "a" * 64, "size": 0}, "size"),
        ({"sha256": "a" * 64, "size": 2**40}, "size"),
        ({"sha256": "a" * 64}, "size"),
        ({"sha256": "a" * 64, "size": True}, "size"),
        ({"sha256": "a" * 64, "size": "10"}, "size"),
    ],
)
def test_bad_scene_requests_are_named(client: TestClient, body: dict[str, Any], field: str) -> None:
    assert_problem(client.post("/api/scenes", json=body, headers=auth()), 422, field)


def test_unknown_routes_and_methods_are_problems_too(client: TestClient) -> None:
    assert_problem(client.get("/api/nothing-here", headers=auth()), 404)
    assert_problem(client.delete("/api/jobs", headers=auth()), 405)


def test_a_405_allows_every_method_served_at_the_path(client: TestClient) -> None:
    """Starlette named only the first route's method: ``Allow: POST`` for /api/jobs."""
    for method in ("DELETE", "OPTIONS", "PUT"):
        response = client.request(method, "/api/jobs", headers=auth())
        assert_problem(response, 405)
        assert response.headers["Allow"] == "GET, POST"
    assert client.put(f"/api/jobs/{JOB}/cancel", headers=auth()).headers["Allow"] == "POST"


def test_an_integral_number_is_an_integer(client: TestClient) -> None:
    """JSON Schema's integer includes 40.0; only true, "40" and 40.5 are refused."""
    response = client.post("/api/scenes", json={"sha256": "a" * 64, "size": 40.0}, headers=auth())
    assert response.status_code == 200, response.text


_JUNK: list[Any] = [
    None,
    True,
    -1,
    0,
    2**63,
    1e308,
    "",
    "x" * 300,
    "1-1x0",
    "\u0000",
    [],
    {},
    [1, 2],
    {"a": 1},
    "💥",
    "-5",
    "0-1048575",
]


def _mutations(rng: random.Random, valid: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(valid))
    for _ in range(rng.randint(1, 3)):
        render = body.get("render")
        target = render if isinstance(render, dict) and rng.random() < 0.4 else body
        key = rng.choice([*target.keys(), "extra", "samples", "camera"])
        target[key] = rng.choice(_JUNK)
    return body


def test_fuzzed_requests_never_get_a_500(client: TestClient, scene: str) -> None:
    """A seeded fuzz over every route's inputs (schemathesis is not installed here)."""
    rng = random.Random(20260101)
    valid = {"scene_sha256": scene, "frames": "1-3", "render": {"engine": "CYCLES", "samples": 4}}
    spec = client.get("/api/openapi.json").json()
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/scenes", "/api/health"} <= spec["paths"].keys()
    statuses: list[int] = []
    for _ in range(150):
        body = _mutations(rng, valid)
        statuses.append(client.post("/api/jobs", json=body, headers=auth()).status_code)
        junk = rng.choice(_JUNK)
        statuses.append(
            client.get(
                f"/api/jobs/{rng.choice([JOB, 'x', '%00', '..'])}",
                params={"frames_limit": str(junk)},
                headers=auth(),
            ).status_code
        )
        statuses.append(
            client.get(
                "/api/jobs", params={"state": str(junk), "limit": str(junk)}, headers=auth()
            ).status_code
        )
        statuses.append(
            client.post(
                "/api/scenes", json={"sha256": junk, "size": junk}, headers=auth()
            ).status_code
        )
    assert all(status < 500 for status in statuses), sorted(set(statuses))
    assert 202 in statuses or 422 in statuses
