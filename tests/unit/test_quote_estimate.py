"""The quote's arithmetic from what the scout chunks measured, the scout frames a request
becomes, and the steps of a quote in the manifest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from renderfarm.chunks.plan import FarmCapacity
from renderfarm.chunks.record import ChunkState, ChunkSummary
from renderfarm.chunks.usage import ChunkUsage
from renderfarm.jobs.cost import JobUsage, current_prices, estimate
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.quote import Decision, default_scout_frames
from renderfarm.jobs.quote_estimate import measure_scouts, quote_job
from renderfarm.jobs.scouting import (
    approved,
    decision,
    expired,
    frames_rendered_by_chunk,
    is_scout_chunk,
    quoted,
    scout_chunks,
)
from renderfarm.jobs.spec import JobRequest

T0 = datetime(2026, 1, 1, tzinfo=UTC)
USAGE = ChunkUsage(
    worker_s=3.0, download_s=0.2, open_s=0.8, render_s=1.5, upload_s=0.1, uploaded_bytes=10_000
)


def manifest(frames: str = "1-12", chunk_size: int = 4, **fields: object) -> JobManifest:
    request = JobRequest.model_validate(
        {"scene_sha256": "a" * 64, "frames": frames, "chunk_size": chunk_size, **fields}
    )
    return JobManifest.new(
        job_id="b" * 32,
        tenant="acme",
        spec=request.to_spec(),
        created_at=T0,
        fingerprint="f",
        blender="5.3",
        scene_saved_by="5.3",
        blender_pinned=False,
    )


def done(usage: ChunkUsage = USAGE) -> ChunkSummary:
    return ChunkSummary(state=ChunkState.DONE, attempts=1, usage=usage)


@pytest.mark.parametrize(
    ("frames", "scouts"),
    [
        ((1,), (1,)),
        ((1, 2), (1, 2)),
        (tuple(range(1, 101)), (1, 50, 100)),
        (tuple(range(10, 251, 10)), (10, 130, 250)),
    ],
)
def test_the_default_scouts_are_the_first_the_middle_and_the_last(
    frames: tuple[int, ...], scouts: tuple[int, ...]
) -> None:
    assert default_scout_frames(frames) == scouts


def test_scout_chunks_are_numbered_after_the_planned_chunks_one_frame_each() -> None:
    job = manifest(scout=True)
    assert len(job.chunks) == 3
    assert [(c.index, c.frames) for c in scout_chunks(job)] == [(3, (1,)), (4, (6,)), (5, (12,))]
    assert [is_scout_chunk(job, i) for i in (2, 3, 5)] == [False, True, True]
    assert not is_scout_chunk(manifest(), 3)
    # Each planned chunk renders its frames but the scout frames it holds.
    assert frames_rendered_by_chunk(job) == {0: 3, 1: 3, 2: 3, 3: 1, 4: 1, 5: 1}


def test_no_measure_until_every_scout_chunk_is_done() -> None:
    job = manifest(scout=True)
    rendering = ChunkSummary(state=ChunkState.RENDERING, attempts=1)
    assert measure_scouts(job, {3: done(), 4: done()}) is None
    assert measure_scouts(job, {3: done(), 4: done(), 5: rendering}) is None
    assert measure_scouts(job, {3: done(), 4: done(), 5: done()}) is not None


def test_the_quote_adds_what_the_scouts_spent_to_the_rest_at_their_rates() -> None:
    job = manifest(scout=True)
    measure = measure_scouts(job, {3: done(), 4: done(), 5: done()})
    assert measure is not None
    capacity = FarmCapacity(replicas=2, replica_start_s=5.0)
    quote = quote_job(
        job, measure, capacity=capacity, prices=current_prices(), now=T0, expiry=timedelta(hours=24)
    )
    overhead = 3.0 - 1.5 - 0.8 - 0.2
    rest = [overhead + 3 * 1.5] * 3  # three chunks of four frames, one scouted each
    assert quote.estimated_worker_seconds == pytest.approx(3 * 3.0 + sum(rest) + 2 * 1.0)
    assert quote.seconds_per_frame == pytest.approx(1.5)
    usage = JobUsage(
        chunks=6,
        attempts=6,
        frames=12,
        worker_s=quote.estimated_worker_seconds,
        render_s=12 * 1.5,
        stored_bytes=12 * 10_000,
    )
    assert quote.estimated_usd == pytest.approx(estimate(usage, current_prices()).estimated_usd)
    # Three chunks on two replicas: two rounds, after a cold start and the scene's opening.
    assert quote.estimated_finish_at == T0 + timedelta(seconds=5.0 + 1.0 + 2 * rest[0])
    assert quote.expires_at == T0 + timedelta(hours=24)
    assert [(f.frame, f.seconds) for f in quote.scout_frames] == [(1, 1.5), (6, 1.5), (12, 1.5)]


def test_a_quote_is_written_once_and_its_decision_follows_the_job() -> None:
    job = manifest(scout=True)
    measure = measure_scouts(job, {3: done(), 4: done(), 5: done()})
    assert measure is not None
    quote = quote_job(
        job,
        measure,
        capacity=FarmCapacity(replicas=2, replica_start_s=5.0),
        prices=current_prices(),
        now=T0,
        expiry=timedelta(hours=1),
    )
    waiting = quoted(job, quote, auto_approve=False)
    assert decision(waiting) is Decision.PENDING
    assert quoted(waiting, quote, auto_approve=True) is waiting  # the first quote stands
    assert decision(approved(waiting, T0)) is Decision.APPROVED
    assert decision(quoted(job, quote, auto_approve=True)) is Decision.AUTO_APPROVED
    assert expired(waiting, T0 + timedelta(minutes=59)) is waiting  # not yet
    gone = expired(waiting, T0 + timedelta(hours=1))
    assert (decision(gone), gone.outcome) == (Decision.EXPIRED, "cancelled")
    assert approved(gone, T0) is gone  # too late to approve
    assert JobManifest.from_json(gone.to_json()) == gone
