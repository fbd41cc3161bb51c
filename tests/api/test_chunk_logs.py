"""A chunk attempt's Blender log over the wire: ``GET /api/jobs/{id}/chunks/{n}/log`` on Azurite,
with the logs written by the store the worker writes them with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.storage.blob import ContainerClient
from fastapi.testclient import TestClient

from renderfarm.chunks.logs import LogFacts
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.wire import ChunkLogPage
from renderfarm_azure.chunk_log_store import BlobChunkLogs
from tests.api.conftest import auth

STARTED = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def _submit(client: TestClient, scene: str) -> str:
    body = {"scene_sha256": scene, "frames": "1-4", "chunk_size": 2}
    answer = client.post("/api/jobs", json=body, headers=auth())
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


def _store(container: ContainerClient) -> BlobChunkLogs:
    breaker = CircuitBreaker(name="blob", threshold=5, open_seconds=1.0, clock=lambda: 0.0)
    return BlobChunkLogs(container=container, breaker=breaker)


def _facts(job_id: str, chunk: int, attempt: int, **changes: object) -> LogFacts:
    fields: dict[str, object] = {
        "job_id": job_id,
        "chunk_index": chunk,
        "attempt": attempt,
        "worker_id": f"worker-{attempt}",
        "started_at": STARTED + timedelta(minutes=attempt),
        **changes,
    }
    return LogFacts(**fields)  # type: ignore[arg-type]


def _log(client: TestClient, job_id: str, chunk: int, **params: object) -> httpx.Response:
    answer: httpx.Response = client.get(
        f"/api/jobs/{job_id}/chunks/{chunk}/log", params=params, headers=auth()
    )
    return answer


def _slug(answer: httpx.Response) -> str:
    return str(answer.json()["type"]).rsplit(":", 1)[-1]


def test_the_latest_attempt_is_the_default_and_each_attempt_reads_its_own_lines(
    client: TestClient, scene: str, jobs_container: ContainerClient
) -> None:
    job_id = _submit(client, scene)
    store = _store(jobs_container)
    ended = STARTED + timedelta(minutes=1, seconds=30)
    store.write_log(_facts(job_id, 1, 1, ended_at=ended), b"attempt 1: Fra:3\nout of memory\n")
    store.write_log(_facts(job_id, 1, 2), b"attempt 2: Fra:3\n")

    latest = _log(client, job_id, 1)
    assert latest.status_code == 200, latest.text
    page = ChunkLogPage.from_json(latest.json())
    assert (page.attempt, page.attempts, page.worker_id) == (2, (1, 2), "worker-2")
    assert (page.text, page.ended_at, page.offset, page.next_offset) == (
        "attempt 2: Fra:3\n",
        None,
        0,
        17,
    )
    assert latest.headers["RateLimit-Remaining"].isdigit()

    first = ChunkLogPage.from_json(_log(client, job_id, 1, attempt=1).json())
    assert (first.attempt, first.worker_id, first.ended_at) == (1, "worker-1", ended)
    assert first.text == "attempt 1: Fra:3\nout of memory\n"


def test_a_follower_reads_only_new_lines_and_gets_304_while_nothing_changed(
    client: TestClient, scene: str, jobs_container: ContainerClient
) -> None:
    job_id = _submit(client, scene)
    store = _store(jobs_container)
    store.write_log(_facts(job_id, 0, 1), b"Fra:1 Sample 1/8\n")
    first = _log(client, job_id, 0, attempt=1)
    etag, next_offset = first.headers["ETag"], first.json()["next_offset"]

    unchanged = client.get(
        f"/api/jobs/{job_id}/chunks/0/log",
        params={"attempt": 1, "offset": next_offset},
        headers={**auth(), "If-None-Match": etag},
    )
    assert unchanged.status_code == 304
    assert (unchanged.headers["ETag"], unchanged.content) == (etag, b"")
    assert unchanged.headers["RateLimit-Remaining"].isdigit()

    store.write_log(_facts(job_id, 0, 1, ended_at=STARTED), b"Fra:1 Sample 1/8\nSaved\n")
    grown = client.get(
        f"/api/jobs/{job_id}/chunks/0/log",
        params={"attempt": 1, "offset": next_offset},
        headers={**auth(), "If-None-Match": etag},
    )
    assert grown.status_code == 200
    assert grown.headers["ETag"] != etag
    assert (grown.json()["text"], grown.json()["offset"]) == ("Saved\n", next_offset)
    assert grown.json()["ended_at"] is not None


def test_an_offset_before_what_the_log_keeps_starts_at_its_first_kept_byte(
    client: TestClient, scene: str, jobs_container: ContainerClient
) -> None:
    job_id = _submit(client, scene)
    _store(jobs_container).write_log(_facts(job_id, 0, 1, offset=5000), b"the tail\n")
    body = _log(client, job_id, 0, offset=10).json()
    assert (body["first_offset"], body["offset"], body["next_offset"]) == (5000, 5000, 5009)
    past = _log(client, job_id, 0, offset=9999).json()
    assert (past["text"], past["offset"]) == ("", 5009)


def test_an_unknown_chunk_gets_a_404_problem(client: TestClient, scene: str) -> None:
    job_id = _submit(client, scene)  # chunks 0 and 1
    answer = _log(client, job_id, 2)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert _slug(answer) == "chunk-not-found"
    assert answer.json()["errors"][0]["field"] == "chunk_index"


def test_an_attempt_without_a_log_gets_a_404_problem(
    client: TestClient, scene: str, jobs_container: ContainerClient
) -> None:
    job_id = _submit(client, scene)
    _store(jobs_container).write_log(_facts(job_id, 0, 1), b"line\n")
    answer = _log(client, job_id, 0, attempt=2)
    assert answer.status_code == 404
    assert _slug(answer) == "attempt-not-found"
    assert answer.json()["errors"][0]["field"] == "attempt"


def test_a_chunk_no_worker_has_started_has_no_log_yet(client: TestClient, scene: str) -> None:
    job_id = _submit(client, scene)
    answer = _log(client, job_id, 1)
    assert answer.status_code == 404
    assert _slug(answer) == "log-not-found"


def test_another_tenants_log_is_not_found_as_its_job_is(
    client: TestClient, scene: str, jobs_container: ContainerClient
) -> None:
    job_id = _submit(client, scene)
    _store(jobs_container).write_log(_facts(job_id, 0, 1), b"acme's secret scene\n")
    theirs = client.get(f"/api/jobs/{job_id}/chunks/0/log", headers=auth("globex"))
    status = client.get(f"/api/jobs/{job_id}", headers=auth("globex"))
    assert theirs.status_code == status.status_code == 404
    assert _slug(theirs) == _slug(status) == "job-not-found"
    assert b"secret" not in theirs.content
    unknown = _log(client, "f" * 32, 0)
    assert (unknown.status_code, _slug(unknown)) == (404, "job-not-found")


@pytest.mark.parametrize(
    ("params", "field"), [({"attempt": 0}, "attempt"), ({"offset": -1}, "offset")]
)
def test_an_attempt_or_offset_out_of_range_gets_a_422_naming_it(
    client: TestClient, scene: str, params: dict[str, int], field: str
) -> None:
    job_id = _submit(client, scene)
    answer = _log(client, job_id, 0, **params)
    assert answer.status_code == 422
    assert [error["field"] for error in answer.json()["errors"]] == [field]


def test_an_if_none_match_that_is_no_etag_of_ours_gets_the_whole_log(
    client: TestClient, scene: str, jobs_container: ContainerClient
) -> None:
    job_id = _submit(client, scene)
    _store(jobs_container).write_log(_facts(job_id, 0, 1), b"line\n")
    for header in ("*", "not an etag", '"a", "b"'):
        answer = client.get(
            f"/api/jobs/{job_id}/chunks/0/log", headers={**auth(), "If-None-Match": header}
        )
        assert answer.status_code == 200, header
        assert answer.json()["text"] == "line\n"
