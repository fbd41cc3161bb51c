"""Jobs that name a project (a file set) over the wire: which files the farm lacks, uploads
through the URLs it hands out, and every refusal at submit naming the file by its project path,
before any job exists."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import zstandard
from azure.storage.blob import BlobServiceClient
from fastapi.testclient import TestClient

from renderfarm.projects.file_set import MAX_HASHES_PER_CALL, FileEntry, FileSet
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.settings import Settings
from testbed.emulators import Azurite, ServiceBusEmulator
from testbed.scenes import whole_blend
from tests.api.conftest import auth, settings_for
from tests.api.test_bad_input import assert_problem

MAIN = whole_blend(b"BLENDER17-01v0503", b"the shot")
LIBRARY = whole_blend(b"BLENDER-v405", b"a library saved by 4.5")
TEXTURE = b"\x89PNG pretend texture"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(path: str, data: bytes) -> dict[str, Any]:
    return {"path": path, "sha256": sha(data), "size": len(data)}


def missing(client: TestClient, files: dict[str, bytes], tenant: str = "acme") -> httpx.Response:
    body = {"files": [{"sha256": sha(data), "size": len(data)} for data in files.values()]}
    response: httpx.Response = client.post("/api/files/missing", json=body, headers=auth(tenant))
    return response


def upload(client: TestClient, files: dict[str, bytes], tenant: str = "acme") -> int:
    """Upload what the farm lacks, as a client would; how many files went up."""
    answer = missing(client, files, tenant)
    assert answer.status_code == 200, answer.text
    by_hash = {sha(data): data for data in files.values()}
    for wanted in answer.json()["missing"]:
        put = httpx.put(
            wanted["upload_url"],
            content=by_hash[wanted["sha256"]],
            headers=answer.json()["upload_headers"],
        )
        assert put.status_code == 201, put.text
    return len(answer.json()["missing"])


def project_job(files: dict[str, bytes], main: str = "shot.blend", **fields: Any) -> dict[str, Any]:
    return {
        "files": {"main": main, "files": [entry(path, data) for path, data in files.items()]},
        "frames": "1-2",
        **fields,
    }


def submit(client: TestClient, body: dict[str, Any], tenant: str = "acme") -> httpx.Response:
    response: httpx.Response = client.post("/api/jobs", json=body, headers=auth(tenant))
    return response


def no_jobs(client: TestClient, tenant: str = "acme") -> bool:
    jobs: list[Any] = client.get("/api/jobs", headers=auth(tenant)).json()["jobs"]
    return jobs == []


PROJECT = {"shot.blend": MAIN, "lib/props.blend": LIBRARY, "textures/wood.png": TEXTURE}


def test_the_farm_asks_only_for_files_it_lacks_and_then_has_them(client: TestClient) -> None:
    first = missing(client, PROJECT)
    assert first.status_code == 200
    assert {m["sha256"] for m in first.json()["missing"]} == {sha(d) for d in PROJECT.values()}
    assert upload(client, PROJECT) == 3
    again = missing(client, PROJECT).json()
    assert (again["missing"], again["present"]) == ([], 3)
    changed = {**PROJECT, "textures/wood.png": TEXTURE + b" repainted"}
    assert [m["sha256"] for m in missing(client, changed).json()["missing"]] == [
        sha(TEXTURE + b" repainted")
    ]


def test_a_project_job_is_accepted_and_its_status_names_the_project(
    client: TestClient, settings: Settings
) -> None:
    upload(client, PROJECT)
    response = submit(client, project_job(PROJECT))
    assert response.status_code == 202, response.text
    accepted = response.json()
    # The library was saved by 4.5, the main file by 5.3: the pool is 5.3, the newer.
    assert (accepted["blender"]["pool"], accepted["blender"]["scene_saved_by"]) == ("5.3", "5.3")
    status = client.get(f"/api/jobs/{accepted['job_id']}", headers=auth()).json()
    file_set = FileSet.of(
        main="shot.blend",
        files=[FileEntry(path=p, sha256=sha(d), size=len(d)) for p, d in PROJECT.items()],
    )
    assert status["files"] == {
        "main": "shot.blend",
        "files": 3,
        "bytes": sum(len(d) for d in PROJECT.values()),
        "sha256": file_set.sha256,
    }
    assert status["warnings"] == []
    # The worker reads the file set the API wrote under its hash.
    assert settings.storage_connection_string
    service = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    stored = service.get_blob_client(
        settings.scenes_container, layout.file_set_blob("acme", file_set.sha256)
    )
    assert FileSet.from_json(stored.download_blob().readall()) == file_set


def test_files_the_artist_lacked_are_warnings_when_allowed(client: TestClient) -> None:
    upload(client, PROJECT)
    body = project_job(PROJECT, allow_missing=True)
    body["files"]["missing"] = ["textures/gone.png"]
    response = submit(client, body)
    assert response.status_code == 202, response.text
    status = client.get(f"/api/jobs/{response.json()['job_id']}", headers=auth()).json()
    assert status["warnings"] == ["missing file: textures/gone.png"]


def test_files_the_artist_lacked_are_refused_without_allow_missing(client: TestClient) -> None:
    upload(client, PROJECT)
    body = project_job(PROJECT)
    body["files"]["missing"] = ["textures/gone.png"]
    assert_problem(submit(client, body), 422)
    assert no_jobs(client)


def test_a_file_never_uploaded_is_named_and_no_job_is_created(client: TestClient) -> None:
    upload(client, {"shot.blend": MAIN, "lib/props.blend": LIBRARY})
    response = submit(client, project_job(PROJECT))
    assert_problem(response, 404, "files")
    assert response.json()["type"].endswith(":project-file-not-found")
    assert response.json()["path"] == "textures/wood.png"
    assert "textures/wood.png" in response.json()["detail"]
    assert no_jobs(client)


def test_another_tenants_files_cannot_be_named(client: TestClient) -> None:
    upload(client, PROJECT, tenant="acme")
    assert len(missing(client, PROJECT, tenant="globex").json()["missing"]) == 3
    response = submit(client, project_job(PROJECT), tenant="globex")
    assert_problem(response, 404, "files")
    assert no_jobs(client, tenant="globex")


CUT_COMPRESSED = zstandard.ZstdCompressor().compress(whole_blend(b"BLENDER17-01v0503", bytes(9000)))


@pytest.mark.parametrize(
    "library",
    [
        pytest.param(b"BLENDER17-01v0503", id="a-header-and-nothing-after"),
        pytest.param(LIBRARY[:-30], id="cut-mid-block"),
        pytest.param(CUT_COMPRESSED[: len(CUT_COMPRESSED) // 2], id="incomplete-zstd-frame"),
        # Like blender-asset-tracer's corrupt_only_magic.blend: 36 bytes, the magic and no blocks.
        pytest.param(b"BLENDER_v279" + bytes(24), id="only-the-magic"),
    ],
)
def test_a_truncated_library_is_a_422_at_submit_naming_it(
    client: TestClient, library: bytes
) -> None:
    files = {**PROJECT, "lib/props.blend": library}
    upload(client, files)
    response = submit(client, project_job(files))
    assert_problem(response, 422, "files")
    assert response.json()["path"] == "lib/props.blend"
    assert no_jobs(client)
    # The broken file is removed so that a fixed one can be uploaded in its place.
    assert sha(library) in {m["sha256"] for m in missing(client, files).json()["missing"]}


def test_a_library_whose_bytes_do_not_match_its_hash_is_refused(client: TestClient) -> None:
    answer = missing(client, PROJECT).json()
    for wanted in answer["missing"]:
        data = LIBRARY[:-4] + b"ENDB" if wanted["sha256"] == sha(LIBRARY) else None
        data = data or next(d for d in PROJECT.values() if sha(d) == wanted["sha256"])
        httpx.put(wanted["upload_url"], content=data, headers=answer["upload_headers"])
    response = submit(client, project_job(PROJECT))
    assert_problem(response, 422, "files")
    assert response.json()["path"] == "lib/props.blend"
    assert "hash" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/home/artist/wood.png", "absolute"),
        ("C:/textures/wood.png", "absolute"),
        ("../wood.png", "climbs out"),
        ("textures/../../wood.png", "climbs out"),
        ("textures/wood\x00.png", "control character"),
        ("textures/wood\n.png", "control character"),
        ("t/" + "x" * 1100, "1024"),
        ("textures\\wood.png", "backslash"),
    ],
)
def test_a_path_that_cannot_name_a_file_in_a_project_is_a_422_naming_it(
    client: TestClient, path: str, why: str
) -> None:
    body = project_job({"shot.blend": MAIN, path: TEXTURE})
    response = submit(client, body)
    assert_problem(response, 422)
    assert all(e["field"].startswith("files") for e in response.json()["errors"])
    assert why in response.text
    assert no_jobs(client)


def test_the_same_path_twice_with_other_bytes_is_a_422(client: TestClient) -> None:
    body = project_job({"shot.blend": MAIN})
    body["files"]["files"].append(entry("shot.blend", LIBRARY))
    response = submit(client, body)
    assert_problem(response, 422, "files")
    assert "listed twice" in response.text


def test_the_same_file_listed_twice_is_taken_once(client: TestClient) -> None:
    upload(client, PROJECT)
    body = project_job(PROJECT)
    body["files"]["files"].append(entry("shot.blend", MAIN))
    response = submit(client, body)
    assert response.status_code == 202, response.text


def test_a_file_also_said_missing_is_there_and_no_warning(client: TestClient) -> None:
    upload(client, PROJECT)
    body = project_job(PROJECT, allow_missing=True)
    body["files"]["missing"] = ["textures/wood.png"]
    response = submit(client, body)
    assert response.status_code == 202, response.text
    status = client.get(f"/api/jobs/{response.json()['job_id']}", headers=auth()).json()
    assert status["warnings"] == []


def test_two_paths_that_differ_only_by_case_are_a_project_the_farm_refuses_403(
    client: TestClient,
) -> None:
    body = project_job(
        {"shot.blend": MAIN, "Textures/Wood.png": TEXTURE, "textures/wood.png": b"x"}
    )
    response = submit(client, body)
    assert_problem(response, 403, "files")
    assert response.json()["type"].endswith(":project-refused")
    assert response.json()["path"] == "textures/wood.png"
    assert "differ only by case" in response.text
    assert no_jobs(client)


def test_a_name_too_long_for_the_workers_disks_is_a_project_the_farm_refuses_403(
    client: TestClient,
) -> None:
    long_name = "textures/" + "é" * 128 + ".png"  # 128 characters, 256 bytes in UTF-8
    response = submit(client, project_job({"shot.blend": MAIN, long_name: TEXTURE}))
    assert_problem(response, 403, "files")
    assert response.json()["path"] == long_name
    assert "longer than 255 bytes" in response.text


def test_a_main_file_that_is_not_among_the_files_is_not_found_404(client: TestClient) -> None:
    response = submit(client, project_job({"other.blend": MAIN}))
    assert_problem(response, 404, "files.main")
    assert response.json()["type"].endswith(":main-file-not-found")
    assert response.json()["path"] == "shot.blend"


def test_a_job_naming_both_a_scene_and_a_project_is_a_422(client: TestClient) -> None:
    body = project_job(PROJECT, scene_sha256=sha(MAIN))
    assert_problem(submit(client, body), 422, "scene_sha256")


@pytest.fixture
def small_farm(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> TestClient:
    return make_client(
        settings_for(azurite, servicebus, max_project_files=2, max_project_bytes=100)
    )


def test_more_files_than_the_farm_allows_is_a_403_naming_the_first_past_it(
    small_farm: TestClient,
) -> None:
    response = submit(small_farm, project_job(PROJECT))
    assert_problem(response, 403, "files")
    assert response.json()["path"] == "textures/wood.png"  # the third, in path order
    assert "limit of 2" in response.json()["detail"]


def test_more_bytes_than_the_farm_allows_is_a_403_naming_where_it_was_reached(
    small_farm: TestClient,
) -> None:
    files = {"shot.blend": MAIN, "textures/huge.png": bytes(200)}
    response = submit(small_farm, project_job(files))
    assert_problem(response, 403, "files")
    assert "100 bytes" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"files": []}, "files"),
        ({"files": [{"sha256": "z" * 64, "size": 1}]}, "files.0.sha256"),
        ({"files": [{"sha256": "a" * 64, "size": -1}]}, "files.0.size"),
        ({"files": [{"sha256": "a" * 64, "size": True}]}, "files.0.size"),
        ({"files": [{"sha256": "a" * 64, "size": 1}] * (MAX_HASHES_PER_CALL + 1)}, "files"),
        ({"files": [{"sha256": "a" * 64}]}, "files.0.size"),
    ],
)
def test_bad_input_to_files_missing_is_a_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    assert_problem(client.post("/api/files/missing", json=body, headers=auth()), 422, field)


def test_files_missing_needs_a_key(client: TestClient) -> None:
    body = {"files": [{"sha256": "a" * 64, "size": 1}]}
    assert client.post("/api/files/missing", json=body).status_code == 401
