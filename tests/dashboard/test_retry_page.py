"""Retrying a job from the dashboard: a button on an ended job's page, a confirmation, and a
form that needs the session's CSRF token."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import auth
from tests.dashboard.conftest import csrf_of, sign_in
from tests.dashboard.test_pages import submit_job


def cancelled_job(client: TestClient, tenant: str = "acme") -> str:
    job_id = submit_job(client, tenant=tenant)
    cancelled = client.post(f"/api/jobs/{job_id}/cancel", headers=auth(tenant))
    assert cancelled.json()["state"] == "cancelled"
    return job_id


def test_a_cancelled_job_is_retried_after_a_confirmation_with_the_csrf_token(
    client: TestClient,
) -> None:
    job_id = cancelled_job(client)
    sign_in(client)
    assert f'href="/jobs/{job_id}/retry"' in client.get(f"/jobs/{job_id}").text
    confirm = client.get(f"/jobs/{job_id}/retry")
    assert confirm.status_code == 200
    assert "Also render the 2 cancelled chunks" in confirm.text
    for token in (None, "forged"):
        data = {"csrf": token, "include_cancelled": "on"} if token else {}
        refused = client.post(f"/jobs/{job_id}/retry", data=data, follow_redirects=False)
        assert refused.status_code == 403
    assert client.get(f"/api/jobs/{job_id}", headers=auth()).json()["state"] == "cancelled"
    done = client.post(
        f"/jobs/{job_id}/retry",
        data={"csrf": csrf_of(confirm.text), "include_cancelled": "on"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/jobs/{job_id}"
    assert client.get(f"/api/jobs/{job_id}", headers=auth()).json()["state"] == "queued"
    page = client.get(f"/jobs/{job_id}").text
    assert "Retried" in page and f'href="/jobs/{job_id}/retry"' not in page


def test_a_running_job_has_no_retry_button_and_a_forced_retry_is_refused(
    client: TestClient,
) -> None:
    job_id = submit_job(client)
    sign_in(client)
    assert f'href="/jobs/{job_id}/retry"' not in client.get(f"/jobs/{job_id}").text
    confirm = client.get(f"/jobs/{job_id}/retry")
    assert "There is nothing to retry" in confirm.text
    refused = client.post(f"/jobs/{job_id}/retry", data={"csrf": csrf_of(client.get("/").text)})
    assert refused.status_code == 409
    assert "Only a job that has ended is retried" in refused.text


def test_another_tenants_job_cannot_be_retried(client: TestClient) -> None:
    theirs = cancelled_job(client, tenant="globex")
    sign_in(client)
    assert client.get(f"/jobs/{theirs}/retry").status_code == 404
    refused = client.post(
        f"/jobs/{theirs}/retry",
        data={"csrf": csrf_of(client.get("/").text), "include_cancelled": "on"},
        follow_redirects=False,
    )
    assert refused.status_code == 404
    assert client.get(f"/api/jobs/{theirs}", headers=auth("globex")).json()["state"] == "cancelled"
