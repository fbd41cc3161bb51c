"""Each job goes to the queue of the Blender pool that should render it, read from the scene's
header as uploaded; scenes no pool can render, and files that are not scenes, are refused."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import zstandard
from fastapi.testclient import TestClient

from renderfarm.shared.settings import Settings
from testbed.emulators import Azurite, ServiceBusEmulator
from testbed.scenes import whole_blend
from tests.api.conftest import auth, settings_for, upload_scene

SAVED_BY_4_5 = whole_blend(b"BLENDER-v405", bytes(4096))
SAVED_BY_5_3 = whole_blend(b"BLENDER17-01v0503", bytes(4096))
POOLS = "5.3,4.5"


@pytest.fixture
def two_pools(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> TestClient:
    return make_client(settings_for(azurite, servicebus, blender_versions=POOLS))


def queued(servicebus: ServiceBusEmulator, queue: str) -> int:
    counts = httpx.get(f"{servicebus.management_url}/queues/{queue}").json()
    return int(counts["active_message_count"])


def submit(client: TestClient, scene: bytes, **fields: object) -> httpx.Response:
    sha = upload_scene(client, scene)
    response: httpx.Response = client.post(
        "/api/jobs",
        json={"scene_sha256": sha, "frames": "1-4", "chunk_size": 2, **fields},
        headers=auth(),
    )
    return response


def test_a_scene_saved_by_4_5_is_queued_for_the_4_5_pool(
    two_pools: TestClient, servicebus: ServiceBusEmulator
) -> None:
    before = queued(servicebus, "render-chunks-4.5")
    response = submit(two_pools, SAVED_BY_4_5)
    assert response.status_code == 202, response.text
    assert response.json()["blender"] == {
        "pool": "4.5",
        "pinned": False,
        "scene_saved_by": "4.5",
        "rendered_by": [],
    }
    assert queued(servicebus, "render-chunks-4.5") == before + 2
    status = two_pools.get(response.json()["status_url"], headers=auth()).json()
    assert status["blender"]["pool"] == "4.5"


def test_a_compressed_scene_is_read_through_its_zstd_frame(two_pools: TestClient) -> None:
    response = submit(two_pools, zstandard.ZstdCompressor().compress(SAVED_BY_5_3))
    assert response.status_code == 202, response.text
    assert response.json()["blender"]["scene_saved_by"] == "5.3"
    assert response.json()["blender"]["pool"] == "5.3"


def test_a_pinned_version_is_honoured(
    two_pools: TestClient, servicebus: ServiceBusEmulator
) -> None:
    before = queued(servicebus, "render-chunks-5.3")
    response = submit(two_pools, SAVED_BY_4_5, blender="5.3")
    assert response.status_code == 202, response.text
    assert response.json()["blender"]["pinned"] is True
    assert queued(servicebus, "render-chunks-5.3") == before + 2


def problem_of(response: httpx.Response, slug: str, status: int = 422) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["type"] == f"urn:renderfarm:problem:{slug}"
    return body


def test_a_pinned_version_the_farm_does_not_run_is_a_409_listing_the_supported_ones(
    two_pools: TestClient,
) -> None:
    body = problem_of(submit(two_pools, SAVED_BY_5_3, blender="4.2"), "no-blender-pool", 409)
    assert body["supported_versions"] == ["4.5", "5.3"]
    assert "4.2" in str(body["detail"])


def test_a_scene_newer_than_every_pool_is_a_409_listing_the_supported_ones(
    client: TestClient,
) -> None:
    body = problem_of(
        submit(client, SAVED_BY_5_3.replace(b"0503", b"0600")), "no-blender-pool", 409
    )
    assert body["supported_versions"] == ["5.3"]
    assert "6.0" in str(body["detail"])


@pytest.mark.parametrize(
    ("scene", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "not_a_blend_file"),
        (b"BLEND", "truncated"),
        (zstandard.ZstdCompressor().compress(SAVED_BY_5_3)[:8], "truncated"),
        (b"BLENDER17-01v05x3" + bytes(64), "unreadable_version"),
    ],
    ids=["png", "truncated-header", "truncated-zstd", "garbled-version"],
)
def test_a_file_that_is_not_a_readable_blend_is_a_422_naming_the_reason(
    client: TestClient, scene: bytes, reason: str
) -> None:
    body = problem_of(submit(client, scene), "scene-not-a-blend")
    assert body["reason"] == reason
    assert str(body["detail"]).startswith("the scene is not a .blend Blender can read: ")
