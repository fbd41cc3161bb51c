"""A job's status: read in its tenant only, from the chunk records where they say enough, listing
only the frames they do not, and never written by a read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from renderfarm.chunks.record import ChunkState, ChunkSummary
from renderfarm.jobs.status import JobState
from renderfarm.shared.errors import JobNotFound
from tests.unit.job_use_case_fakes import T0, MemoryStore, Queue, UseCases, job, use_cases


def test_another_tenants_job_is_not_found() -> None:
    svc = use_cases(MemoryStore(), Queue())
    job_id = svc.submission.submit(
        job(), tenant="acme", idempotency_key=None, trace_context={}
    ).manifest.job_id
    with pytest.raises(JobNotFound):
        svc.statuses.status(job_id, tenant="globex")
    with pytest.raises(JobNotFound):
        svc.cancelling.cancel(job_id, tenant="globex")


def test_a_job_recorded_complete_no_longer_lists_its_frames() -> None:
    store, queue = MemoryStore(), Queue()
    svc = use_cases(store, queue)
    job_id = svc.submission.submit(
        job("1-3"), tenant="acme", idempotency_key=None, trace_context={}
    )
    job_id_text = job_id.manifest.job_id
    current = store.manifests[job_id_text]  # as the settler of its last chunk records it
    store.replace_manifest(current.manifest.ended("completed", T0), current.etag)
    listings = store.frame_listings
    assert svc.statuses.status(job_id_text, tenant="acme")[1].state is JobState.COMPLETED
    assert store.frame_listings == listings


def _three_chunk_job(store: MemoryStore) -> tuple[UseCases, str]:
    svc = use_cases(store, Queue())
    accepted = svc.submission.submit(
        job("1-300", chunk_size=100), tenant="acme", idempotency_key=None, trace_context={}
    )
    return svc, accepted.manifest.job_id


def test_status_trusts_a_rendering_chunks_record_for_its_frames_and_lists_none() -> None:
    store = MemoryStore()
    svc, job_id = _three_chunk_job(store)
    done = ChunkSummary(state=ChunkState.DONE, attempts=1)
    rendering = ChunkSummary(
        state=ChunkState.RENDERING, attempts=1, frames_done=frozenset(range(101, 151))
    )
    store.chunks[job_id] = {0: done, 1: rendering}  # chunk 2 has not started
    store.frames[job_id] = set(range(1, 161))  # 151-160 uploaded, not yet recorded
    _, status = svc.statuses.status(job_id, tenant="acme")
    assert status.frames_done == 100 + 50
    assert status.frames_present[-1] == 150
    assert store.frame_listings == 0


def test_status_lists_the_frames_of_a_chunk_that_failed_part_way() -> None:
    store = MemoryStore()
    svc, job_id = _three_chunk_job(store)
    done = ChunkSummary(state=ChunkState.DONE, attempts=1)
    # The dead-letter handler settled it: its last attempt's uploads may be unrecorded.
    failed = ChunkSummary(state=ChunkState.FAILED, attempts=3, frames_done=frozenset({101}))
    store.chunks[job_id] = {0: done, 1: failed, 2: done}
    store.frames[job_id] = set(range(1, 151)) | set(range(201, 301))
    _, status = svc.statuses.status(job_id, tenant="acme")
    assert status.frames_done == 100 + 50 + 100
    # Two listings, of the blocks 100-199 and 200-299, rather than 19 exact prefixes.
    assert store.listed_prefixes == [("0001", "0002")]


def test_status_lists_the_frames_of_a_record_that_does_not_name_them() -> None:
    store = MemoryStore()
    svc, job_id = _three_chunk_job(store)
    older_worker = ChunkSummary(state=ChunkState.RENDERING, attempts=1)  # no frames metadata
    store.chunks[job_id] = {0: older_worker}
    store.frames[job_id] = set(range(1, 41))
    _, status = svc.statuses.status(job_id, tenant="acme")
    assert status.frames_done == 40
    assert store.listed_prefixes == [("0000", "0001")]


def test_a_status_read_never_writes_even_when_every_frame_is_in() -> None:
    store, queue = MemoryStore(), Queue()
    jobs = use_cases(store, queue)
    job_id = jobs.submission.submit(
        job("1-2"), tenant="acme", idempotency_key=None, trace_context={}
    )
    store.frames[job_id.manifest.job_id] = {1, 2}
    # The workers recorded every frame and have yet to record their chunks done.
    store.chunks[job_id.manifest.job_id] = {
        chunk.index: ChunkSummary(
            state=ChunkState.RENDERING, attempts=1, frames_done=frozenset(chunk.frames)
        )
        for chunk in job_id.manifest.chunks
    }
    writes = store.writes
    _, status = jobs.statuses.status(job_id.manifest.job_id, tenant="acme")
    assert status.state is JobState.COMPLETED  # read from the frames; recorded by the settler
    assert store.writes == writes
    assert store.read_manifest(job_id.manifest.job_id).manifest.outcome is None  # type: ignore[union-attr]


def test_a_deferred_job_is_queued_once_its_time_has_come() -> None:
    store, queue = MemoryStore(), Queue()
    now = [T0]
    jobs = use_cases(store, queue, clock=lambda: now[0])
    later = T0 + timedelta(minutes=1)
    job_id = jobs.submission.submit(
        job(not_before=later.isoformat()), tenant="acme", idempotency_key=None, trace_context={}
    ).manifest.job_id
    now[0] = later + timedelta(seconds=1)
    assert jobs.statuses.status(job_id, tenant="acme")[1].state is JobState.QUEUED
