"""Job events: deterministic ids (the queue's duplicate detection keys on them) and a strict
reading of what comes off the queue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from renderfarm.jobs.events import EventFormatError, EventType, JobEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JOB = "a" * 32


def test_an_event_id_names_the_job_and_what_happened_so_two_senders_send_one_event() -> None:
    first = JobEvent(type=EventType.JOB_COMPLETED, job_id=JOB, tenant="acme", at=T0)
    second = JobEvent(
        type=EventType.JOB_COMPLETED, job_id=JOB, tenant="acme", at=T0.replace(hour=1)
    )
    assert first.id == second.id == f"{JOB}:job.completed"


def test_a_chunk_event_id_names_its_chunk() -> None:
    event = JobEvent(type=EventType.CHUNK_FAILED, job_id=JOB, tenant="acme", at=T0, chunk_index=7)
    assert event.id == f"{JOB}:7:chunk.failed"


def test_an_event_round_trips() -> None:
    event = JobEvent(
        type=EventType.CHUNK_FAILED,
        job_id=JOB,
        tenant="acme",
        at=T0,
        chunk_index=3,
        detail={"error": "SceneError: corrupt"},
    )
    assert JobEvent.from_json(event.to_json()) == event


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b"null", b"{}", b'{"version": 2}', b'{"version": 1, "type": "job.exploded"}'],
)
def test_anything_else_is_not_an_event(body: bytes) -> None:
    with pytest.raises(EventFormatError):
        JobEvent.from_json(body)
