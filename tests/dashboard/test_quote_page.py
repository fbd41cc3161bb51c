"""A scouted job's page: the quote while it waits, an Approve button that needs the session's
CSRF token, and what became of the quote afterwards."""

from __future__ import annotations

from azure.storage.blob import BlobServiceClient
from fastapi.testclient import TestClient

from renderfarm.shared.settings import Settings
from tests.api.conftest import auth, upload_scene
from tests.api.scouting_helpers import lifecycle_for, settle_scouts, submit
from tests.dashboard.conftest import csrf_of, sign_in


def quoted_job(client: TestClient, settings: Settings) -> str:
    """A scouted job whose scout chunks have settled: awaiting approval."""
    job_id: str = submit(client, upload_scene(client), scout=True)["job_id"]
    assert settings.storage_connection_string
    with (
        BlobServiceClient.from_connection_string(settings.storage_connection_string) as blobs,
        lifecycle_for(settings) as lifecycle,
    ):
        jobs = blobs.get_container_client(settings.jobs_container)
        settle_scouts(jobs, lifecycle, job_id)
    return job_id


def test_a_scouting_job_says_so_and_shows_no_approve_button(client: TestClient) -> None:
    job_id = submit(client, upload_scene(client), scout=[2, 7])["job_id"]
    sign_in(client)
    page = client.get(f"/jobs/{job_id}").text
    assert "Rendering the scout frames 2, 7" in page
    assert 'id="approve-job"' not in page


def test_the_quote_is_approved_from_the_job_page_with_the_sessions_csrf_token(
    client: TestClient, settings: Settings
) -> None:
    job_id = quoted_job(client, settings)
    sign_in(client)
    page = client.get(f"/jobs/{job_id}")
    assert page.status_code == 200
    assert 'id="approve-job"' in page.text and "Estimated cost" in page.text
    assert "awaiting_approval" in page.text
    for token in (None, "forged"):
        data = {"csrf": token} if token else {}
        refused = client.post(f"/jobs/{job_id}/approve", data=data, follow_redirects=False)
        assert refused.status_code == 403
    assert client.get(f"/api/jobs/{job_id}", headers=auth()).json()["state"] == "awaiting_approval"
    done = client.post(
        f"/jobs/{job_id}/approve", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert (done.status_code, done.headers["location"]) == (303, f"/jobs/{job_id}")
    assert client.get(f"/api/jobs/{job_id}", headers=auth()).json()["state"] == "queued"
    after = client.get(f"/jobs/{job_id}").text
    assert 'id="quote-decision">approved<' in after and 'id="approve-job"' not in after


def test_approving_a_job_not_awaiting_approval_is_a_409_page(client: TestClient) -> None:
    job_id = submit(client, upload_scene(client))["job_id"]
    sign_in(client)
    page = client.get(f"/jobs/{job_id}")
    refused = client.post(
        f"/jobs/{job_id}/approve", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert refused.status_code == 409
    assert "Not awaiting approval" in refused.text
