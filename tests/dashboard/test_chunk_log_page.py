"""A chunk's Blender log in the dashboard: the job page links each started chunk to its log, a
page that shows the log's text (escaped), follows it while the attempt runs, and is a 404 page
for another tenant's job, a chunk the job lacks or an attempt without a log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient
from fastapi.testclient import TestClient

from renderfarm.chunks.logs import LogFacts
from renderfarm.chunks.record import ChunkRecord, ChunkState
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.settings import Settings
from renderfarm_azure.chunk_log_store import BlobChunkLogs
from renderfarm_azure.chunk_records import update_chunk_record
from tests.dashboard.conftest import sign_in
from tests.dashboard.test_pages import submit_job

STARTED = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


@pytest.fixture
def jobs(settings: Settings) -> Iterator[ContainerClient]:
    assert settings.storage_connection_string
    service = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    yield service.get_container_client(settings.jobs_container)
    service.close()


def _write_log(
    jobs: ContainerClient, job_id: str, attempt: int, text: bytes, *, ended: bool
) -> None:
    breaker = CircuitBreaker(name="blob", threshold=5, open_seconds=1.0, clock=lambda: 0.0)
    facts = LogFacts(
        job_id=job_id,
        chunk_index=0,
        attempt=attempt,
        worker_id="replica-7",
        started_at=STARTED,
        ended_at=STARTED if ended else None,
    )
    BlobChunkLogs(container=jobs, breaker=breaker).write_log(facts, text)


def _started(jobs: ContainerClient, job_id: str, attempts: int) -> None:
    record = ChunkRecord(
        job_id=job_id, chunk_index=0, state=ChunkState.RENDERING, attempts=attempts
    )
    update_chunk_record(jobs, job_id, 0, lambda _: record)


def test_the_job_page_links_a_started_chunk_to_its_log(
    client: TestClient, jobs: ContainerClient
) -> None:
    job_id = submit_job(client)  # chunks 0 and 1
    _started(jobs, job_id, 1)
    sign_in(client)
    page = client.get(f"/jobs/{job_id}").text
    assert f'href="/jobs/{job_id}/chunks/0/log"' in page
    assert f'href="/jobs/{job_id}/chunks/1/log"' not in page  # not started: no log yet


def test_a_log_page_shows_the_attempts_text_escaped_and_follows_it_while_it_runs(
    client: TestClient, jobs: ContainerClient
) -> None:
    job_id = submit_job(client)
    _write_log(jobs, job_id, 1, b"attempt one <b>\n", ended=True)
    _write_log(jobs, job_id, 2, b"Fra:1 <script>alert(1)</script>\n", ended=False)
    sign_in(client)

    running = client.get(f"/jobs/{job_id}/chunks/0/log")
    assert running.status_code == 200
    assert "Fra:1 &lt;script&gt;alert(1)&lt;/script&gt;" in running.text
    assert "<script>alert" not in running.text and "attempt one" not in running.text
    assert "replica-7" in running.text
    assert f'data-poll-url="/jobs/{job_id}/chunks/0/log/live"' in running.text
    assert f'href="/jobs/{job_id}/chunks/0/log?attempt=1"' in running.text
    csp = running.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    live = client.get(f"/jobs/{job_id}/chunks/0/log/live").text
    assert '<div id="chunk-log"' in live
    assert "<html" not in live

    first = client.get(f"/jobs/{job_id}/chunks/0/log", params={"attempt": "1"}).text
    assert "attempt one &lt;b&gt;" in first and "Fra:1" not in first
    assert "data-poll-url" not in first  # that attempt is over


def test_a_chunk_no_worker_started_says_so_and_waits_for_its_log(client: TestClient) -> None:
    job_id = submit_job(client)
    sign_in(client)
    page = client.get(f"/jobs/{job_id}/chunks/1/log")
    assert page.status_code == 200
    assert "No worker has started this chunk yet" in page.text
    assert "data-poll-url" in page.text


def test_logs_of_other_tenants_unknown_chunks_and_attempts_are_404_pages(
    client: TestClient, jobs: ContainerClient
) -> None:
    mine, theirs = submit_job(client), submit_job(client, tenant="globex")
    _write_log(jobs, theirs, 1, b"globex's scene\n", ended=True)
    _write_log(jobs, mine, 1, b"line\n", ended=True)
    sign_in(client)
    for path in (
        f"/jobs/{theirs}/chunks/0/log",
        f"/jobs/{mine}/chunks/2/log",
        f"/jobs/{mine}/chunks/0/log?attempt=2",
        f"/jobs/{mine}/chunks/0/log?attempt=0",
        f"/jobs/{mine}/chunks/x/log",
        f"/jobs/{mine}/chunks/0/log?attempt=one",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert "globex's scene" not in response.text
