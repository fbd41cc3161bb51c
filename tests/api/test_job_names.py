"""A job's name, tags and submitter over the wire: defaults, the round trip through status and
list, the list's filters and paging, renaming, bad input, and jobs from before names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from azure.storage.blob import ContainerClient
from fastapi.testclient import TestClient

from functions.events import EventConsumer
from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.keys.api_keys import hash_key, hashed_key_id
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.settings import Settings
from renderfarm_azure.services import Services
from tests.api.conftest import KEYS, auth
from tests.api.test_bad_input import assert_problem
from tests.api.test_projects import PROJECT, project_job, upload

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def submit(client: TestClient, scene: str, **fields: Any) -> dict[str, Any]:
    body = {"scene_sha256": scene, "frames": "1-3", **fields}
    response = client.post("/api/jobs", json=body, headers=auth())
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def listed(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/jobs", params=params, headers=auth())
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def ids(page: dict[str, Any]) -> list[str]:
    return [job["job_id"] for job in page["jobs"]]


def test_a_job_without_a_name_is_called_by_its_file_or_scene_and_its_frames(
    client: TestClient, scene: str
) -> None:
    one_file = submit(client, scene, frames="1-250")
    assert one_file["name"] == f"scene {scene[:12]} 1-250"
    upload(client, PROJECT)
    project = client.post("/api/jobs", json=project_job(PROJECT, frames="1-9x2"), headers=auth())
    assert project.status_code == 202, project.text
    assert project.json()["name"] == "shot.blend 1-9x2"
    status = client.get(f"/api/jobs/{one_file['job_id']}", headers=auth()).json()
    assert (status["name"], status["tags"]) == (f"scene {scene[:12]} 1-250", [])
    # The id of the key that asked, never the key.
    assert status["submitted_by"] == hashed_key_id(hash_key(KEYS["acme"]))
    assert KEYS["acme"] not in json.dumps(status)


def test_name_tags_and_submitter_show_in_the_status_and_the_list(
    client: TestClient, scene: str
) -> None:
    tags = ["project=forest", "shot=010", "lighting", "shot=010"]
    accepted = submit(client, scene, name="Shot 010 — lighting ✓", tags=tags)
    assert accepted["tags"] == ["project=forest", "shot=010", "lighting"]  # a repeat dropped
    status = client.get(f"/api/jobs/{accepted['job_id']}", headers=auth()).json()
    assert (status["name"], status["tags"]) == ("Shot 010 — lighting ✓", accepted["tags"])
    [job] = listed(client)["jobs"]
    assert (job["name"], job["tags"], job["submitted_by"]) == (
        status["name"],
        status["tags"],
        status["submitted_by"],
    )


def test_the_list_filters_by_name_prefix_ignoring_case_and_by_every_tag(
    client: TestClient, scene: str
) -> None:
    a = submit(client, scene, name="shot_010 key", tags=["shot=010", "lighting"])["job_id"]
    b = submit(client, scene, name="Shot_020 fill", tags=["shot=020", "lighting"])["job_id"]
    c = submit(client, scene, name="turntable", tags=["shot=010"])["job_id"]
    assert ids(listed(client, name="shot_")) == [b, a]
    assert ids(listed(client, tag="lighting")) == [b, a]
    assert ids(listed(client, tag=["shot=010", "lighting"])) == [a]
    assert ids(listed(client, tag="shot=010", name="TURN")) == [c]
    assert ids(listed(client, tag="shot")) == []  # a tag matches whole, key and value
    assert ids(listed(client, name="shot_", state="queued")) == [b, a]


def test_a_filtered_list_pages_through_every_match_with_its_cursor(
    client: TestClient, scene: str
) -> None:
    wanted = [submit(client, scene, tags=["pick"])["job_id"] for _ in range(3)]
    submit(client, scene)
    pages, cursor = [], None
    while True:
        page = listed(client, tag="pick", limit=2, **({"cursor": cursor} if cursor else {}))
        pages.append(ids(page))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [wanted[::-1][:2], wanted[::-1][2:]]


def test_a_job_is_renamed_and_retagged_and_found_by_its_new_tags(
    client: TestClient, scene: str
) -> None:
    job_id = submit(client, scene, name="draft", tags=["wip"])["job_id"]
    answer = client.patch(
        f"/api/jobs/{job_id}", json={"name": "final", "tags": ["approved"]}, headers=auth()
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["name"], answer.json()["tags"]) == ("final", ["approved"])
    assert ids(listed(client, tag="approved")) == [job_id]
    assert ids(listed(client, tag="wip")) == []
    kept = client.patch(f"/api/jobs/{job_id}", json={"tags": []}, headers=auth()).json()
    assert (kept["name"], kept["tags"]) == ("final", [])


def test_another_tenants_job_cannot_be_renamed(client: TestClient, scene: str) -> None:
    job_id = submit(client, scene, name="mine")["job_id"]
    answer = client.patch(f"/api/jobs/{job_id}", json={"name": "theirs"}, headers=auth("globex"))
    assert_problem(answer, 404)
    assert client.get(f"/api/jobs/{job_id}", headers=auth()).json()["name"] == "mine"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "x" * 201}, "name"),
        ({"name": "shot\n010"}, "name"),
        ({"name": "bell\x07"}, "name"),
        ({"name": "c1\x85"}, "name"),
        ({"name": ""}, "name"),
        ({"name": 10}, "name"),
        ({"tags": [f"t{n}" for n in range(17)]}, "tags"),
        ({"tags": ["shot = 010"]}, "tags.0"),
        ({"tags": ["ok", "=010"]}, "tags.1"),
        ({"tags": ["shot=010=2"]}, "tags.0"),
        ({"tags": ["x" * 65]}, "tags.0"),
        ({"tags": ["pass=" + "v" * 129]}, "tags.0"),
        ({"tags": ["ünicode"]}, "tags.0"),
        ({"tags": "lighting"}, "tags"),
    ],
)
def test_a_bad_name_or_tag_is_a_422_naming_the_field(
    client: TestClient, fields: dict[str, Any], field: str
) -> None:
    body = {"scene_sha256": "a" * 64, "frames": "1", **fields}
    assert_problem(client.post("/api/jobs", json=body, headers=auth()), 422, field)
    assert_problem(client.patch(f"/api/jobs/{'0' * 32}", json=fields, headers=auth()), 422, field)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tag": "shot = 010"}, "tag.0"),
        ({"tag": ["ok", "a=b=c"]}, "tag.1"),
        ({"tag": [f"t{n}" for n in range(17)]}, "tag"),
        ({"name": "a\tb"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"cursor": "c1.bm90IG91cnM"}, "cursor"),
    ],
)
def test_a_malformed_list_filter_is_a_4xx_naming_it(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    response = client.get("/api/jobs", params=params, headers=auth())
    assert_problem(response, 400 if field == "cursor" else 422, field)


def test_jobs_from_before_names_are_read_listed_and_found_by_their_default_name(
    client: TestClient, scene: str, jobs_container: ContainerClient
) -> None:
    """An index entry without name or tags, a manifest without a label: as older farms wrote
    them."""
    job_id = submit(client, scene, frames="1-4", name="new name", tags=["t"])["job_id"]
    manifest = jobs_container.get_blob_client(layout.manifest_blob(job_id))
    data = json.loads(manifest.download_blob().readall())
    del data["label"]
    manifest.upload_blob(json.dumps(data), overwrite=True)
    [entry] = jobs_container.list_blobs(
        name_starts_with=layout.tenant_index_prefix("acme"), include=["metadata"]
    )
    old = {k: v for k, v in (entry.metadata or {}).items() if k not in {"name", "tags"}}
    jobs_container.get_blob_client(entry.name).set_blob_metadata(old)
    default = f"scene {scene[:12]} 1-4"
    status = client.get(f"/api/jobs/{job_id}", headers=auth()).json()
    assert (status["name"], status["tags"], status["submitted_by"]) == (default, [], None)
    assert ids(listed(client, name="scene ")) == [job_id]
    assert ids(listed(client, name="new")) == []
    assert ids(listed(client, tag="t")) == []
    cancelled = client.post(f"/api/jobs/{job_id}/cancel", headers=auth())
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["name"] == default


def test_a_webhooks_payload_names_and_tags_the_job(
    client: TestClient, scene: str, settings: Settings
) -> None:
    """The events consumer's summary, which each webhook delivery carries as ``data``."""
    job_id = submit(client, scene, name="shot_010", tags=["shot=010"])["job_id"]
    services = Services.from_settings(settings)
    try:
        consumer = EventConsumer(services=services, webhooks=cast(Any, None))  # not fanned out
        event = JobEvent(type=EventType.JOB_ACCEPTED, job_id=job_id, tenant="acme", at=T0)
        summary = consumer._finalize_and_summarize(event)  # what each delivery carries
    finally:
        services.close()
    assert summary is not None
    assert (summary["name"], summary["tags"]) == ("shot_010", ["shot=010"])
    assert summary["submitted_by"] == hashed_key_id(hash_key(KEYS["acme"]))


def test_renaming_an_ended_job_keeps_its_index_entry_marked_over(
    client: TestClient, scene: str, jobs_container: ContainerClient
) -> None:
    """The end and a new name each change only their own part of the index entry."""
    job_id = submit(client, scene, name="before")["job_id"]
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=auth()).status_code == 200
    answer = client.patch(f"/api/jobs/{job_id}", json={"name": "after ✓"}, headers=auth())
    assert answer.status_code == 200, answer.text
    [entry] = jobs_container.list_blobs(
        name_starts_with=layout.tenant_index_prefix("acme"), include=["metadata"]
    )
    metadata = entry.metadata or {}
    assert metadata["terminal"] == "true" and metadata["name"] == "after%20%E2%9C%93"
    assert ids(listed(client, name="after", state="cancelled")) == [job_id]
