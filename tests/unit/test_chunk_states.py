"""The chunk state machine: each transition, and what a redelivery does to a settled chunk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from renderfarm.chunks import states as chunk_states
from renderfarm.chunks.record import ChunkRecord, ChunkState

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(seconds=5)


def fresh() -> ChunkRecord:
    return chunk_states.new_record("j" * 32, 3)


def rendering() -> ChunkRecord:
    return chunk_states.start(fresh(), worker_id="w1", blender_version="5.3.0", at=T0)


def test_starting_counts_the_attempt_and_names_the_worker_and_its_blender() -> None:
    record = rendering()
    assert record.state is ChunkState.RENDERING
    assert (record.attempts, record.worker_id, record.blender_version) == (1, "w1", "5.3.0")
    assert record.started_at == T0


def test_a_second_start_after_a_crash_counts_again_and_keeps_the_first_start_time() -> None:
    again = chunk_states.start(rendering(), worker_id="w2", blender_version="5.3.0", at=T1)
    assert (again.attempts, again.worker_id, again.started_at) == (2, "w2", T0)


def test_progress_adds_frames_and_their_seconds() -> None:
    record = chunk_states.progress(rendering(), {7: 1.23456, 6: 2.0}, T1)
    assert record.frames_done == (6, 7)
    assert record.frame_seconds == {6: 2.0, 7: 1.235}


def test_frames_found_in_blob_join_the_frames_done_without_timings() -> None:
    earlier = chunk_states.progress(rendering(), {6: 2.0}, T1)
    record = chunk_states.found(earlier, frozenset({6, 7, 8}))
    assert record.frames_done == (6, 7, 8)
    assert record.frame_seconds == {6: 2.0}
    assert chunk_states.found(record, frozenset({7})) is record  # nothing new: unchanged


def test_finishing_settles_the_chunk_done() -> None:
    done = chunk_states.finish(rendering(), T1)
    assert (done.state, done.finished_at) == (ChunkState.DONE, T1)
    assert chunk_states.is_settled(done.state)


def test_a_redelivered_done_chunk_stays_done_through_start_and_finish() -> None:
    done = chunk_states.finish(rendering(), T0)
    again = chunk_states.start(done, worker_id="w2", blender_version="5.3.0", at=T1)
    assert again == done
    assert chunk_states.finish(again, T1) == done


def test_handing_back_and_transient_failures_leave_it_pending_for_the_next_delivery() -> None:
    assert chunk_states.hand_back(rendering(), T1).state is ChunkState.PENDING
    later = chunk_states.retry_later(rendering(), error="BlobUnavailable: 503", log="tail", at=T1)
    assert (later.state, later.last_error, later.log_tail) == (
        ChunkState.PENDING,
        "BlobUnavailable: 503",
        "tail",
    )


def test_a_poison_failure_fails_the_chunk_but_a_later_delivery_may_reopen_it() -> None:
    failed = chunk_states.fail(rendering(), error="SceneError: corrupt", log="", at=T1)
    assert (failed.state, failed.finished_at) == (ChunkState.FAILED, T1)
    reopened = chunk_states.start(failed, worker_id="w2", blender_version="5.3.0", at=T1)
    assert (reopened.state, reopened.finished_at) == (ChunkState.RENDERING, None)


@pytest.mark.parametrize("settled", [ChunkState.DONE, ChunkState.FAILED])
def test_cancelling_leaves_a_settled_chunk_as_it_was(settled: ChunkState) -> None:
    record = ChunkRecord(job_id="j" * 32, chunk_index=0, state=settled)
    assert chunk_states.cancel(record, T1) == record


def test_cancelling_a_rendering_chunk_settles_it_cancelled() -> None:
    assert chunk_states.cancel(rendering(), T1).state is ChunkState.CANCELLED


def test_a_dead_letter_fails_an_unsettled_chunk_with_service_bus_reason() -> None:
    record = chunk_states.dead_lettered(
        rendering(),
        reason="MaxDeliveryCountExceeded",
        description="5 delivery attempts",
        delivery_count=5,
        at=T1,
    )
    assert (record.state, record.attempts) == (ChunkState.FAILED, 5)
    assert record.last_error == "MaxDeliveryCountExceeded: 5 delivery attempts"


def test_a_dead_letter_keeps_the_workers_own_reason_for_a_chunk_it_failed() -> None:
    failed = chunk_states.fail(rendering(), error="SceneError: corrupt", log="", at=T0)
    record = chunk_states.dead_lettered(
        failed, reason="SceneError", description="x", delivery_count=1, at=T1
    )
    assert record.last_error == "SceneError: corrupt"


def test_a_dead_letter_of_a_done_chunk_changes_nothing() -> None:
    done = chunk_states.finish(rendering(), T0)
    assert (
        chunk_states.dead_lettered(done, reason="TTL", description="", delivery_count=9, at=T1)
        == done
    )
