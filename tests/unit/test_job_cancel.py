"""Cancelling a job: its end recorded and announced once, its unsettled chunks marked for their
workers, a finished job left as it ended, a deferred job unscheduled."""

from __future__ import annotations

from datetime import timedelta

from renderfarm.chunks.record import ChunkState, ChunkSummary
from renderfarm.jobs.status import JobState
from tests.unit.job_use_case_fakes import T0, Events, MemoryStore, Queue, job, use_cases


def test_cancelling_records_the_end_once_and_says_so_once() -> None:
    store, queue, events = MemoryStore(), Queue(), Events()
    jobs = use_cases(store, queue, events=events)
    job_id = jobs.submission.submit(
        job(), tenant="acme", idempotency_key=None, trace_context={}
    ).manifest.job_id
    jobs.cancelling.cancel(job_id, tenant="acme")
    manifest, status = jobs.cancelling.cancel(job_id, tenant="acme")
    assert (manifest.outcome, manifest.finished_at, status.state) == (
        "cancelled",
        T0,
        JobState.CANCELLED,
    )
    assert events.types() == ["job.accepted", "job.cancelled"]
    assert job_id in store.terminal


def test_cancelling_marks_each_unsettled_chunk_for_its_worker_and_again_on_a_retry() -> None:
    store, queue = MemoryStore(), Queue()
    jobs = use_cases(store, queue)
    job_id = jobs.submission.submit(
        job(chunk_size=2), tenant="acme", idempotency_key=None, trace_context={}
    ).manifest.job_id
    store.chunks[job_id] = {
        0: ChunkSummary(state=ChunkState.DONE, attempts=1),
        1: ChunkSummary(state=ChunkState.RENDERING, attempts=1),
        2: ChunkSummary(state=ChunkState.PENDING, attempts=1),  # handed back, to be redelivered
        3: ChunkSummary(state=ChunkState.CANCELLED, attempts=1),
    }  # chunk 4 has no record: its worker reads the manifest after recording its start
    jobs.cancelling.cancel(job_id, tenant="acme")
    assert store.cancel_markers[job_id] == {1, 2}
    store.cancel_markers.clear()
    jobs.cancelling.cancel(job_id, tenant="acme")  # the first one's markers may have been cut short
    assert store.cancel_markers[job_id] == {1, 2}


def test_a_completed_job_stays_completed_when_cancelled_late() -> None:
    store, queue, events = MemoryStore(), Queue(), Events()
    jobs = use_cases(store, queue, events=events)
    job_id = jobs.submission.submit(
        job(), tenant="acme", idempotency_key=None, trace_context={}
    ).manifest.job_id
    current = store.manifests[job_id]
    store.replace_manifest(current.manifest.ended("completed", T0), current.etag)
    manifest, status = jobs.cancelling.cancel(job_id, tenant="acme")
    assert (manifest.outcome, manifest.cancelled_at, status.state) == (
        "completed",
        None,
        JobState.COMPLETED,
    )
    assert events.types() == ["job.accepted"]


def test_a_deferred_job_is_scheduled_until_its_time_and_cancelling_unschedules_it() -> None:
    store, queue = MemoryStore(), Queue()
    now = [T0]
    jobs = use_cases(store, queue, clock=lambda: now[0])
    later = T0 + timedelta(hours=2)
    manifest = jobs.submission.submit(
        job("1-4", chunk_size=2, not_before=later.isoformat()),
        tenant="acme",
        idempotency_key=None,
        trace_context={},
    ).manifest
    assert not queue.sent
    assert {at for at, _ in queue.scheduled.values()} == {later}
    assert jobs.statuses.status(manifest.job_id, tenant="acme")[1].state is JobState.SCHEDULED
    jobs.cancelling.cancel(manifest.job_id, tenant="acme")
    assert queue.scheduled == {}
