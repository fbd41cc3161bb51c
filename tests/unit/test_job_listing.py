"""Listing a tenant's jobs: each one's state from its chunk records, not from its frames."""

from __future__ import annotations

from renderfarm.chunks.record import ChunkState, ChunkSummary
from renderfarm.jobs.status import JobState
from tests.unit.job_use_case_fakes import MemoryStore, Queue, job, use_cases


def test_job_lists_read_chunk_records_instead_of_listing_every_frame() -> None:
    store, queue = MemoryStore(), Queue()
    svc = use_cases(store, queue)
    ids = [
        svc.submission.submit(
            job("1-4", chunk_size=2), tenant="acme", idempotency_key=None, trace_context={}
        ).manifest.job_id
        for _ in range(2)
    ]
    done = ChunkSummary(state=ChunkState.DONE, attempts=1)
    rendering = ChunkSummary(state=ChunkState.RENDERING, attempts=1)
    store.chunks[ids[0]] = {0: done, 1: done}
    store.chunks[ids[1]] = {0: done, 1: rendering}
    page = svc.listing.list_jobs(tenant="acme", size=10, cursor=None, state=None)
    assert store.frame_listings == 0
    states = {m.job_id: (s.state, s.frames_done) for m, s in page.statuses}
    assert states == {ids[0]: (JobState.COMPLETED, 4), ids[1]: (JobState.RENDERING, 2)}
