"""The pure parts of a retry: its round in the manifest, which chunks render again, the chunk
records' round, and the names (blobs, events) that keep rounds apart. Over the wire:
tests/api/test_job_retry.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from renderfarm.chunks import states
from renderfarm.chunks.record import ChunkRecord, ChunkState, ChunkSummary
from renderfarm.jobs.end import LedgerTree
from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.jobs.manifest import EnqueueState, JobManifest
from renderfarm.jobs.retry import RetryOutcome, chunks_to_retry
from renderfarm.jobs.retry_round import RetryRound, new_round
from renderfarm.jobs.status import JobState, job_status
from renderfarm.shared import blob_layout as layout
from renderfarm.wire import JobStateName, RetryAnswer, RetryOutcomeName
from renderfarm_client.cli.retry import describe
from tests.job_manifests import new_manifest

JOB = "0123456789abcdef0123456789abcdef"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def manifest(frames: str = "1-6") -> JobManifest:
    return new_manifest(frames, job_id=JOB, created_at=T0).enqueued()


def summaries(*states_: ChunkState) -> dict[int, ChunkSummary]:
    return {i: ChunkSummary(state=state, attempts=1) for i, state in enumerate(states_)}


def a_round(chunks: tuple[int, ...] = (1,), number: int = 1) -> RetryRound:
    return new_round(
        number=number,
        chunks=chunks,
        carried_codes=["d", "d"],
        include_cancelled=False,
        at=T0,
        previous_outcome="failed",
    )


def test_a_round_keeps_its_chunks_as_a_short_list_and_reads_back() -> None:
    retry = new_round(
        number=2,
        chunks=[9, 0, 1, 2, 3, 9],
        carried_codes=["d", "c", "d"],
        include_cancelled=True,
        at=T0,
        previous_outcome="cancelled",
    )
    assert retry.chunks == (0, 1, 2, 3, 9) and retry.carried == "c"
    assert retry.to_dict()["chunks"] == "0-3,9"
    assert RetryRound.from_dict(retry.to_dict()) == retry
    assert [retry.position(i) for i in (0, 3, 9, 4, 10)] == [0, 3, 4, None, None]


def test_only_an_ended_job_is_retried_and_its_end_is_cleared() -> None:
    running = manifest()
    with pytest.raises(ValueError, match="ended"):
        running.retried(a_round())
    ended = running.cancelled(T0).ended("cancelled", T0)
    retried = ended.retried(a_round())
    assert (retried.outcome, retried.finished_at, retried.cancelled_at) == (None, None, None)
    assert (retried.round, retried.enqueue_state) == (1, EnqueueState.ENQUEUING)
    assert retried.accepts_work()
    assert JobManifest.from_json(retried.to_json()) == retried
    with pytest.raises(ValueError, match="round"):
        retried.ended("failed", T0).retried(a_round(number=3))  # rounds go one at a time


@pytest.mark.parametrize(
    ("outcome", "chunk_states", "include_cancelled", "again", "kept"),
    [
        ("failed", ("done", "failed", "done"), False, [1], ["d", "d"]),
        # a failed job's chunks that never ran (its send failed) render too
        ("failed", ("failed", "pending", "cancelled"), False, [0, 1, 2], []),
        ("cancelled", ("done", "failed", "rendering"), False, [1], ["d", "c"]),
        ("cancelled", ("done", "failed", "cancelled"), True, [1, 2], ["d"]),
        ("cancelled", ("done", "pending", "cancelled"), False, [], ["d", "c", "c"]),
    ],
)
def test_which_chunks_render_again(
    outcome: str,
    chunk_states: tuple[str, ...],
    include_cancelled: bool,
    again: list[int],
    kept: list[str],
) -> None:
    ended = manifest().ended(outcome, T0)
    frames = {f for i, s in enumerate(chunk_states) if s == "done" for f in (2 * i + 1, 2 * i + 2)}
    status = job_status(
        ended,
        chunks=summaries(*(ChunkState(s) for s in chunk_states)),
        errors={},
        frames_present=frames,
    )
    assert chunks_to_retry(ended, status, include_cancelled=include_cancelled) == (again, kept)


def test_a_round_under_way_is_rendering_though_chunks_it_carried_were_cancelled() -> None:
    retried = manifest().cancelled(T0).ended("cancelled", T0).retried(a_round((1,)))
    chunks = summaries(ChunkState.DONE, ChunkState.RENDERING, ChunkState.CANCELLED)
    status = job_status(retried, chunks=chunks, errors={}, frames_present={1, 2})
    assert status.state is JobState.RENDERING


def test_a_record_opened_in_a_round_refuses_the_writers_of_earlier_rounds() -> None:
    failed = states.fail(
        ChunkRecord(job_id=JOB, chunk_index=1, state=ChunkState.RENDERING, attempts=2),
        error="FrameError: no camera",
        log="",
        at=T0,
    )
    reopened = states.requeue(failed, retry_round=1, frames={3}, at=T0 + timedelta(seconds=1))
    assert (reopened.state, reopened.round, reopened.frames_done) == ("pending", 1, (3,))
    assert reopened.attempts == 2 and reopened.finished_at is None
    assert states.requeue(reopened, retry_round=1, frames=set(), at=T0) is reopened
    assert states.is_stale(reopened, 0) and not states.is_stale(reopened, 1)
    late_letter = states.dead_lettered(
        reopened, reason="MaxDeliveryCount", description="", delivery_count=10, at=T0
    )
    assert late_letter is reopened
    assert ChunkRecord.from_json(reopened.to_json()) == reopened


def test_a_rounds_ledger_cancel_markers_and_events_have_names_of_their_own() -> None:
    tree = LedgerTree(3, round=2)
    leaf = tree.leaf(1)
    assert tree.parent(leaf).round == 2
    assert layout.ledger_node_blob(JOB, 0, 1, fanout=32, retry_round=2) == (
        f"{JOB}/settled/r2/0/0/1"
    )
    assert layout.ledger_node_blob(JOB, 0, 1, fanout=32) == f"{JOB}/settled/0/0/1"
    assert layout.cancel_blob(JOB, 4, retry_round=2) == f"{JOB}/cancel/r2/4"
    assert layout.cancel_blob(JOB, 4) == f"{JOB}/cancel/4"
    first = JobEvent(type=EventType.JOB_FAILED, job_id=JOB, tenant="acme", at=T0)
    again = JobEvent(type=EventType.JOB_FAILED, job_id=JOB, tenant="acme", at=T0, round=1)
    chunk = JobEvent(
        type=EventType.CHUNK_FAILED, job_id=JOB, tenant="acme", at=T0, chunk_index=3, round=1
    )
    assert (first.id, again.id) == (f"{JOB}:job.failed", f"{JOB}:r1:job.failed")
    assert chunk.id == f"{JOB}:r1:3:chunk.failed"
    assert JobEvent.from_json(again.to_json()) == again


def test_the_wire_names_every_job_state_and_retry_outcome() -> None:
    assert set(get_args(JobStateName)) == {state.value for state in JobState}
    assert set(get_args(RetryOutcomeName)) == {outcome.value for outcome in RetryOutcome}
    with pytest.raises(ValueError, match="unknown"):
        RetryAnswer.from_json(
            {
                "job_id": JOB,
                "outcome": "maybe",
                "retried": False,
                "state": "failed",
                "round": 0,
                "chunks": [],
                "frames": 0,
                "status_url": "/",
            }
        )


def test_the_cli_says_what_a_retry_did_in_one_line() -> None:
    answer = RetryAnswer(
        job_id=JOB,
        outcome="retried",
        retried=True,
        state="queued",
        round=1,
        chunks=(4,),
        frames=10,
        status_url=f"/api/jobs/{JOB}",
    )
    assert describe(answer) == (
        f"job {JOB}: retry 1 renders 1 chunk (10 frames) again; frames already rendered are "
        "kept (queued)"
    )
    unchanged = replace(answer, outcome="already_retrying", retried=False, state="rendering")
    assert describe(unchanged) == f"job {JOB} is already being retried: nothing changed (rendering)"
