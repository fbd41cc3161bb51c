"""The dashboard without a browser: headers, sign-in, sessions, CSRF, errors, escaping."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from azure.storage.blob import BlobServiceClient
from fastapi.testclient import TestClient

from dashboard import session as sessions
from renderfarm.chunks.record import ChunkRecord, ChunkState
from renderfarm.shared.settings import Settings
from renderfarm_azure.chunk_records import update_chunk_record
from renderfarm_client.farm_api import FarmClient
from testbed.emulators import Azurite, ServiceBusEmulator, free_port
from testbed.scenes import whole_blend
from tests.api.conftest import auth, upload_scene
from tests.api.test_projects import project_job
from tests.api.test_projects import upload as upload_files
from tests.dashboard.conftest import SECRET, csrf_of, dashboard_settings, sign_in


def submit_job(client: TestClient, tenant: str = "acme", frames: str = "1-4") -> str:
    data = whole_blend(b"BLENDER-v500", uuid.uuid4().bytes + b"\0" * 4096)
    scene = upload_scene(client, data, tenant=tenant)
    response = client.post(
        "/api/jobs",
        json={"scene_sha256": scene, "frames": frames, "chunk_size": 2},
        headers=auth(tenant),
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def test_pages_carry_a_strict_content_security_policy(client: TestClient) -> None:
    for path in ("/sign-in", "/static/dashboard.js", "/static/dashboard.css", "/"):
        response = client.get(path, follow_redirects=False)
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    page = client.get("/sign-in").text
    assert "<script>" not in page and "style=" not in page and "<style" not in page
    assert '<script type="module" src="/static/dashboard.js">' in page
    assert client.get("/static/dashboard.js").headers["content-type"].startswith("text/javascript")


def test_the_api_stays_under_api_without_the_dashboards_csp(client: TestClient) -> None:
    response = client.get("/api/jobs", headers=auth())
    assert response.status_code == 200
    assert response.json()["jobs"] == []
    assert "content-security-policy" not in response.headers  # /api/docs loads Swagger UI
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_wrong_key_is_refused_with_a_clear_message(client: TestClient) -> None:
    response = client.post("/sign-in", data={"key": "rf_not-a-key", "next": "/"})
    assert response.status_code == 401
    assert "That API key is not valid" in response.text
    assert "set-cookie" not in response.headers


def test_the_session_cookie_is_httponly_strict_signed_and_short_lived(client: TestClient) -> None:
    response = client.post(
        "/sign-in", data={"key": "rf_acme-test-key-0001", "next": "/farm"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/farm"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(sessions.COOKIE_NAME + "=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Max-Age=1800" in cookie
    assert "Secure" not in cookie  # development over plain http
    assert "rf_acme-test-key-0001" not in cookie


def test_outside_development_the_cookie_is_secure(
    azurite: Azurite, servicebus: ServiceBusEmulator, make_client: Callable[[Settings], TestClient]
) -> None:
    client = make_client(dashboard_settings(azurite, servicebus, environment="production"))
    response = client.post(
        "/sign-in", data={"key": "rf_acme-test-key-0001", "next": "/"}, follow_redirects=False
    )
    assert "Secure" in response.headers["set-cookie"]


def test_without_a_session_a_page_sends_to_sign_in_keeping_where_it_was(
    client: TestClient,
) -> None:
    response = client.get("/jobs/" + "a" * 32 + "?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/jobs/" + "a" * 32 + "%3Fx%3D1"
    page = client.get(response.headers["location"]).text
    assert 'name="next" value="/jobs/' + "a" * 32 + '?x=1"' in page
    # A fragment fetched by the page's script is told 401 instead of being redirected.
    fragment = client.get("/jobs/rows", headers={"RF-Fragment": "1"}, follow_redirects=False)
    assert fragment.status_code == 401


def test_the_add_ons_open_in_browser_url_is_the_jobs_page(client: TestClient) -> None:
    """FarmClient.job_url (the Blender add-on's "Open in browser"): a browser without a session
    is sent to sign in and back to the job, never answered the API's 401."""
    job_id = submit_job(client)
    url = FarmClient(api_url=str(client.base_url) + "/api", api_key=None).job_url(job_id)
    path = url.removeprefix(str(client.base_url))
    assert path == f"/jobs/{job_id}"
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/sign-in?next=/jobs/{job_id}"
    sign_in(client, next_path=path)
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert job_id in page.text


def test_an_expired_or_forged_session_is_not_a_session(client: TestClient) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    expired, _ = sessions.issue(
        SECRET.encode(), tenant="acme", now=past, lifetime=timedelta(minutes=30)
    )
    forged, _ = sessions.issue(
        b"another-secret", tenant="acme", now=datetime.now(UTC), lifetime=timedelta(minutes=30)
    )
    for cookie in (expired, forged, "garbage", expired.split(".")[0] + ".x"):
        client.cookies.set(sessions.COOKIE_NAME, cookie)
        response = client.get("/farm", follow_redirects=False)
        assert response.status_code == 303, cookie
        assert response.headers["location"] == "/sign-in?next=/farm"


def test_sign_in_goes_only_to_paths_on_this_site() -> None:
    for unsafe in ("https://evil.example/", "//evil.example/", "/\\evil", "", None, "jobs"):
        assert sessions.safe_next(unsafe) == "/"
    assert sessions.safe_next("/jobs/abc?state=failed") == "/jobs/abc?state=failed"


def test_sign_out_ends_the_session(client: TestClient) -> None:
    sign_in(client)
    page = client.get("/")
    assert page.status_code == 200
    refused = client.post("/sign-out", data={"csrf": "wrong"}, follow_redirects=False)
    assert refused.status_code == 403
    out = client.post("/sign-out", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert 'rf_session=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    assert client.get("/", follow_redirects=False).status_code == 303


def test_cancel_needs_the_sessions_csrf_token(client: TestClient) -> None:
    job_id = submit_job(client)
    sign_in(client)
    confirm = client.get(f"/jobs/{job_id}/cancel")
    assert confirm.status_code == 200
    assert "Yes, cancel the job" in confirm.text
    for token in (None, "forged"):
        data = {"csrf": token} if token else {}
        refused = client.post(f"/jobs/{job_id}/cancel", data=data, follow_redirects=False)
        assert refused.status_code == 403
    assert client.get(f"/api/jobs/{job_id}", headers=auth()).json()["state"] == "queued"
    done = client.post(
        f"/jobs/{job_id}/cancel", data={"csrf": csrf_of(confirm.text)}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/jobs/{job_id}"
    assert client.get(f"/api/jobs/{job_id}", headers=auth()).json()["state"] == "cancelled"
    assert "cancelled" in client.get(f"/jobs/{job_id}").text


def test_a_tenant_sees_only_its_own_jobs(client: TestClient) -> None:
    theirs = submit_job(client, tenant="globex")
    mine = submit_job(client)
    sign_in(client)
    jobs = client.get("/").text
    assert mine in jobs and theirs not in jobs
    for path in (f"/jobs/{theirs}", f"/jobs/{theirs}/live", f"/jobs/{theirs}/cancel"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Not found" in response.text
    page = client.get("/")
    refused = client.post(
        f"/jobs/{theirs}/cancel", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert refused.status_code == 404


def test_a_job_page_says_how_its_chunks_were_sized(client: TestClient) -> None:
    job_id = submit_job(client)
    sign_in(client)
    assert "2 frames per chunk, as asked" in client.get(f"/jobs/{job_id}").text


def test_a_project_job_page_names_its_main_file_and_warns_of_each_missing_file(
    client: TestClient,
) -> None:
    main = whole_blend(b"BLENDER17-01v0503", uuid.uuid4().bytes)
    upload_files(client, {"shot.blend": main})
    body = project_job({"shot.blend": main}, allow_missing=True)
    body["files"]["missing"] = ["textures/<b>gone</b>.png"]
    response = client.post("/api/jobs", json=body, headers=auth())
    assert response.status_code == 202, response.text
    sign_in(client)
    page = client.get(f"/jobs/{response.json()['job_id']}").text
    assert "shot.blend</code> · 1 file," in page
    assert "missing file: textures/&lt;b&gt;gone&lt;/b&gt;.png" in page
    assert "<b>gone</b>" not in page


def test_an_unknown_job_is_a_404_page_not_a_trace(client: TestClient) -> None:
    sign_in(client)
    for job_id in ("f" * 32, "not-a-job", "F" * 32):
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 404, job_id
        assert response.headers["content-type"].startswith("text/html")
        assert "Traceback" not in response.text


def test_an_unknown_path_outside_the_api_is_a_404_page(client: TestClient) -> None:
    for signed in (False, True):
        if signed:
            sign_in(client)
        for path in ("/etc", "/etc/passwd", "/jobs/x/y/z", "/apix", "/static/nope.js", "/<script>"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 404, path
            assert response.headers["content-type"].startswith("text/html"), path
            assert "<h1>Not found</h1>" in response.text, path
            assert "<script>" not in response.text.replace(
                '<script type="module" src="/static/dashboard.js">', ""
            )
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert response.headers["cache-control"] == "no-store"
    assert client.post("/etc", data={"a": "b"}).headers["content-type"].startswith("text/html")


def test_an_unknown_path_under_the_api_stays_a_json_problem(client: TestClient) -> None:
    sign_in(client)  # a session cookie changes nothing for the API
    for path in ("/api", "/api/", "/api/nope", "/api/jobs/x/y/z"):
        for headers in ({}, auth()):
            response = client.get(path, headers=headers)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == "application/problem+json", path
            assert response.json()["status"] == 404 and response.json()["instance"] == path


def test_blender_errors_and_logs_are_escaped(client: TestClient, settings: Settings) -> None:
    job_id = submit_job(client, frames="1-2")
    assert settings.storage_connection_string
    service = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    jobs = service.get_container_client(settings.jobs_container)
    record = ChunkRecord(
        job_id=job_id,
        chunk_index=0,
        state=ChunkState.FAILED,
        attempts=3,
        last_error="blender-error: <script>alert('error')</script>",
        log_tail="Error: <script>alert('log')</script>\nBlender quit",
        worker_id="worker-<b>1</b>",
    )
    update_chunk_record(jobs, job_id, 0, lambda _: record)
    service.close()
    sign_in(client)
    page = client.get(f"/jobs/{job_id}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<b>1</b>" not in page.text
    assert "&lt;script&gt;alert(&#39;error&#39;)&lt;/script&gt;" in page.text
    assert "&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt;" in page.text
    assert "Blender quit" in page.text
    assert "3 attempts" in page.text
    assert "worker-&lt;b&gt;1&lt;/b&gt;" in page.text
    listing = client.get("/?state=failed").text
    assert job_id in listing


def test_the_jobs_page_polls_a_fragment_and_filters_by_state(client: TestClient) -> None:
    job_id = submit_job(client)
    sign_in(client)
    page = client.get("/")
    assert 'data-poll-url="/jobs/rows"' in page.text
    assert 'data-active="true"' in page.text
    fragment = client.get("/jobs/rows", headers={"RF-Fragment": "1"})
    assert fragment.status_code == 200
    assert 'id="jobs-live"' in fragment.text and job_id in fragment.text
    assert job_id not in client.get("/?state=completed").text
    assert job_id in client.get("/?state=queued").text
    assert client.get("/?state=nonsense").status_code == 200  # an unknown filter shows all


def test_the_farm_page_shows_queue_counts(client: TestClient) -> None:
    sign_in(client)
    page = client.get("/farm")
    assert page.status_code == 200, page.text
    assert "render-chunks-5.3" in page.text
    assert "Dead-lettered" in page.text


def test_webhooks_are_added_and_removed_with_csrf(client: TestClient) -> None:
    sign_in(client)
    page = client.get("/webhooks")
    token = csrf_of(page.text)
    refused = client.post(
        "/webhooks", data={"url": "https://example.com/", "events": "job.completed"}
    )
    assert refused.status_code == 403
    added = client.post(
        "/webhooks",
        data={"csrf": token, "url": "https://93.184.215.14/hook", "events": ["job.completed"]},
    )
    assert added.status_code in (201, 422), added.text
    if added.status_code == 422:  # no resolver needed for an address, but policy may refuse it
        assert "✗" in added.text
        return
    assert "whsec_" in added.text and "93.184.215.14/hook" in added.text
    listed = client.get("/api/webhooks", headers=auth()).json()["webhooks"]
    (hook,) = [h for h in listed if h["url"] == "https://93.184.215.14/hook"]
    gone = client.post(
        f"/webhooks/{hook['id']}/delete", data={"csrf": token}, follow_redirects=False
    )
    assert gone.status_code == 303
    left = client.get("/api/webhooks", headers=auth()).json()["webhooks"]
    assert hook["id"] not in {h["id"] for h in left}


def test_storage_down_is_a_503_page(
    azurite: Azurite, servicebus: ServiceBusEmulator, make_client: Callable[[Settings], TestClient]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/devstoreaccount1"
    connection = azurite.connection_string.replace(azurite.blob_endpoint, dead)
    client = make_client(
        dashboard_settings(azurite, servicebus, storage_connection_string=connection)
    )
    refused = client.post("/sign-in", data={"key": "rf_acme-test-key-0001", "next": "/"})
    assert refused.status_code == 503
    cookie, _ = sessions.issue(
        SECRET.encode(), tenant="acme", now=datetime.now(UTC), lifetime=timedelta(minutes=5)
    )
    client.cookies.set(sessions.COOKIE_NAME, cookie)
    for path in ("/", "/jobs/" + "a" * 32, "/webhooks"):
        page = client.get(path)
        assert page.status_code == 503, path
        assert "Blob storage is down" in page.text
        assert page.headers["retry-after"]


def test_service_bus_down_is_a_503_page(
    azurite: Azurite, servicebus: ServiceBusEmulator, make_client: Callable[[Settings], TestClient]
) -> None:
    client = make_client(
        dashboard_settings(
            azurite, servicebus, servicebus_management_url=f"http://127.0.0.1:{free_port()}"
        )
    )
    sign_in(client)
    page = client.get("/farm")
    assert page.status_code == 503
    assert "Service bus is down" in page.text


def test_no_page_asks_another_origin_for_anything(client: TestClient) -> None:
    sign_in(client)
    for path in ("/", "/farm", "/webhooks", "/sign-in"):
        html = client.get(path).text
        for attribute in ('src="http', "src='http", 'href="http', 'src="//'):
            assert attribute not in html, (path, attribute)
