"""Backpressure: the queued-frames cap counts a tenant's unfinished frames only, from an estimate
that is refreshed once it is old."""

from __future__ import annotations

import pytest

from renderfarm.chunks.record import ChunkState, ChunkSummary
from renderfarm.shared.errors import QueuedFramesCapExceeded
from tests.unit.job_use_case_fakes import MemoryStore, Queue, job, use_cases


def test_the_queued_frames_cap_counts_only_the_tenants_unfinished_frames() -> None:
    store, queue = MemoryStore(), Queue()
    svc = use_cases(store, queue, cap=15)
    first = svc.submission.submit(
        job("1-10"), tenant="acme", idempotency_key=None, trace_context={}
    )
    with pytest.raises(QueuedFramesCapExceeded):
        svc.submission.submit(job("1-10"), tenant="acme", idempotency_key=None, trace_context={})
    svc.submission.submit(job("1-10"), tenant="globex", idempotency_key=None, trace_context={})
    done = ChunkSummary(state=ChunkState.DONE, attempts=1)
    store.chunks[first.manifest.job_id] = {i: done for i in range(6)}  # chunks of one frame
    assert svc.backpressure.queued_frames("acme") == 4
    svc.submission.submit(job("1-10"), tenant="acme", idempotency_key=None, trace_context={})


def test_a_cancelled_job_no_longer_counts_against_the_cap() -> None:
    store, queue = MemoryStore(), Queue()
    svc = use_cases(store, queue, cap=10)
    first = svc.submission.submit(
        job("1-10"), tenant="acme", idempotency_key=None, trace_context={}
    )
    svc.cancelling.cancel(first.manifest.job_id, tenant="acme")
    assert svc.backpressure.queued_frames("acme") == 0


def test_the_cap_counts_again_once_its_estimate_is_old() -> None:
    store, queue = MemoryStore(), Queue()
    now = [0.0]
    svc = use_cases(store, queue, cap=15, monotonic=lambda: now[0])
    first = svc.submission.submit(
        job("1-10"), tenant="acme", idempotency_key=None, trace_context={}
    )
    store.frames[first.manifest.job_id] = set(range(1, 11))
    done = ChunkSummary(state=ChunkState.DONE, attempts=1)
    store.chunks[first.manifest.job_id] = {i: done for i in range(10)}
    with pytest.raises(QueuedFramesCapExceeded):  # the estimate still counts the first job
        svc.submission.submit(job("1-10"), tenant="acme", idempotency_key=None, trace_context={})
    now[0] += 5.0
    svc.submission.submit(job("1-10"), tenant="acme", idempotency_key=None, trace_context={})
