import json
from datetime import UTC, datetime, timedelta

from renderfarm.chunks.record import ChunkState, ChunkSummary
from renderfarm.jobs.manifest import EnqueueState, JobManifest
from renderfarm.jobs.status import JobState, job_status
from tests.job_manifests import new_manifest

JOB = "0123456789abcdef0123456789abcdef"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def manifest(frames: str = "1-6", chunk_size: int | None = 2) -> JobManifest:
    return new_manifest(
        frames, chunk_size=chunk_size, job_id=JOB, created_at=T0, blender="4.5", saved_by="4.2"
    )


def summary(state: ChunkState, attempts: int = 1) -> ChunkSummary:
    return ChunkSummary(state=state, attempts=attempts, started_at=T0 + timedelta(seconds=1))


def test_manifest_round_trips_with_its_plan() -> None:
    original = manifest().enqueued().cancelled(T0)
    again = JobManifest.from_json(original.to_json())
    assert again == original
    assert [c.frames for c in again.chunks] == [(1, 2), (3, 4), (5, 6)]


def test_a_manifest_written_before_pools_per_version_reads_as_the_old_pool() -> None:
    data = json.loads(manifest().to_json())
    for key in ("blender", "scene_saved_by", "blender_pinned"):
        del data[key]
    old = JobManifest.from_json(json.dumps(data))
    assert (old.blender, old.scene_saved_by, old.blender_pinned) == ("5.0", None, False)


def test_absent_chunk_size_is_planned() -> None:
    assert manifest("1-10000", chunk_size=None).chunk_size == 100


def test_one_message_per_chunk_with_the_chunks_frames() -> None:
    messages = sorted(manifest().messages(), key=lambda m: m.chunk_index)  # sent preview-first
    assert [m.message_id for m in messages] == [f"{JOB}:0", f"{JOB}:1", f"{JOB}:2"]
    assert messages[2].frames == (5, 6)
    assert {m.tenant for m in messages} == {"acme"}


def test_workers_skip_cancelled_jobs_and_jobs_that_failed_to_enqueue() -> None:
    assert manifest().accepts_work()
    assert not manifest().cancelled(T0).accepts_work()
    assert not manifest().enqueue_failed("queue down").accepts_work()


def test_a_job_with_no_records_and_no_frames_is_queued() -> None:
    status = job_status(manifest().enqueued(), chunks={}, errors={}, frames_present=set())
    assert status.state is JobState.QUEUED
    assert (status.frames_total, status.frames_done, status.frames_waiting) == (6, 0, 6)
    assert {c.state for c in status.chunks} == {ChunkState.PENDING}


def test_frames_present_make_chunks_done_whatever_the_records_say() -> None:
    status = job_status(
        manifest(),
        chunks={0: summary(ChunkState.RENDERING)},
        errors={},
        frames_present={1, 2, 3},
    )
    assert status.state is JobState.RENDERING
    assert [c.state for c in status.chunks] == [
        ChunkState.DONE,
        ChunkState.PENDING,
        ChunkState.PENDING,
    ]
    assert status.frames_done == 3
    assert status.started_at == T0 + timedelta(seconds=1)


def test_every_frame_present_completes_the_job() -> None:
    status = job_status(manifest(), chunks={}, errors={}, frames_present=set(range(1, 7)))
    assert status.state is JobState.COMPLETED
    assert status.frames_waiting == 0
    assert status.frames_present == (1, 2, 3, 4, 5, 6)


def test_a_failed_chunk_fails_the_job_once_nothing_else_runs() -> None:
    chunks = {1: summary(ChunkState.FAILED, attempts=5)}
    errors = {1: "Blender crashed"}
    running = job_status(manifest(), chunks=chunks, errors=errors, frames_present={1, 2, 3})
    assert running.state is JobState.RENDERING
    over = job_status(manifest(), chunks=chunks, errors=errors, frames_present={1, 2, 3, 5, 6})
    assert over.state is JobState.FAILED
    assert over.frames_failed == 1
    assert over.chunks[1].attempts == 5
    assert over.chunks[1].last_error == "Blender crashed"


def test_a_done_record_without_its_frames_is_a_failed_chunk() -> None:
    status = job_status(
        manifest(), chunks={0: summary(ChunkState.DONE)}, errors={}, frames_present={1}
    )
    assert status.chunks[0].state is ChunkState.FAILED
    assert status.chunks[0].last_error == "1 frames missing from a finished chunk"


def test_cancelled_job_reports_cancelled_unless_it_had_already_finished() -> None:
    cancelled = manifest().cancelled(T0)
    assert job_status(cancelled, chunks={}, errors={}, frames_present=set()).state is (
        JobState.CANCELLED
    )
    done = job_status(cancelled, chunks={}, errors={}, frames_present=set(range(1, 7)))
    assert done.state is JobState.COMPLETED


def test_a_job_that_failed_to_enqueue_is_failed_with_its_reason() -> None:
    failed = manifest().enqueue_failed("Service Bus unavailable")
    status = job_status(failed, chunks={}, errors={}, frames_present=set())
    assert failed.enqueue_state is EnqueueState.FAILED
    assert status.state is JobState.FAILED
    assert status.error == "Service Bus unavailable"
