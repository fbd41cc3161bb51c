"""The jobs page's search box and paging, and a job's name and tags on its page, without a
browser (tests/dashboard/test_search_browser.py types into the box)."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from dashboard.routes import jobs as job_routes
from testbed.scenes import whole_blend
from tests.api.conftest import auth, upload_scene
from tests.dashboard.conftest import sign_in


def submit(client: TestClient, **fields: object) -> str:
    data = whole_blend(b"BLENDER-v500", uuid.uuid4().bytes + b"\0" * 4096)
    scene = upload_scene(client, data)
    body = {"scene_sha256": scene, "frames": "1-2", **fields}
    response = client.post("/api/jobs", json=body, headers=auth())
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def rows(html: str) -> list[str]:
    return re.findall(r'data-job="([0-9a-f]{32})"', html)


def test_the_search_box_finds_jobs_by_name_prefix_and_tags(client: TestClient) -> None:
    key = submit(client, name="shot_010 key", tags=["shot=010", "lighting"])
    fill = submit(client, name="shot_020 fill", tags=["shot=020", "lighting"])
    sign_in(client)
    page = client.get("/")
    assert 'id="search-name"' in page.text and "shot_010 key" in page.text
    assert rows(client.get("/", params={"name": "SHOT_0"}).text) == [fill, key]
    assert rows(client.get("/", params={"tags": "lighting, shot=010"}).text) == [key]
    found = client.get("/", params={"name": "shot", "tags": "shot=020", "state": "queued"})
    assert rows(found.text) == [fill]
    assert 'data-poll-url="/jobs/rows?state=queued&amp;name=shot&amp;tags=shot%3D020"' in found.text
    fragment = client.get("/jobs/rows", params={"tags": "shot=020"}, headers={"RF-Fragment": "1"})
    assert rows(fragment.text) == [fill]
    assert "No jobs match this search" in client.get("/", params={"tags": "nothing"}).text


@pytest.mark.parametrize("params", [{"tags": "shot = 010"}, {"tags": "a=b=c"}, {"name": "x" * 201}])
def test_a_search_the_rules_refuse_says_why_and_lists_nothing(
    client: TestClient, params: dict[str, str]
) -> None:
    submit(client)
    sign_in(client)
    page = client.get("/", params=params)
    assert page.status_code == 422
    assert 'id="search-error"' in page.text and rows(page.text) == []


def test_the_jobs_page_pages_through_every_job(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_routes, "JOBS_PER_PAGE", 2)
    made = [submit(client, tags=["pick"]) for _ in range(3)]
    submit(client)
    sign_in(client)
    seen: list[str] = []
    path: str | None = "/?tags=pick"
    while path is not None:
        page = client.get(path.replace("&amp;", "&")).text
        seen += rows(page)
        older = re.search(r'id="older-jobs" href="([^"]+)"', page)
        path = older.group(1) if older else None
    assert seen == made[::-1]
    gone = client.get("/", params={"cursor": "c1.bm90IG91cnM"})
    assert gone.status_code == 400 and "start from the newest jobs" in gone.text


def test_a_job_page_shows_its_name_tags_and_submitter(client: TestClient) -> None:
    job_id = submit(client, name="Forest <b>shot</b>", tags=["project=forest"])
    sign_in(client)
    page = client.get(f"/jobs/{job_id}").text
    assert '<h1 id="job-name">Forest &lt;b&gt;shot&lt;/b&gt;</h1>' in page
    assert '<a class="tag" href="/?tags=project%3Dforest">project=forest</a>' in page
    assert 'id="job-submitted-by"' in page and job_id in page
