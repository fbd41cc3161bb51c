"""Chunk sizes planned from what earlier renders of a scene measured."""

from __future__ import annotations

import pytest

from renderfarm.chunks.plan import (
    MAX_REMEMBERED_FRAMES,
    OVERHEAD_SHARE,
    ChunkPlan,
    FarmCapacity,
    PlanSource,
    SceneTimings,
    measured_timings,
    plan_chunks_for,
    settings_key,
)
from renderfarm.chunks.usage import ChunkUsage
from renderfarm.shared.render_settings import RenderSettings

TWO_LOCAL_WORKERS = FarmCapacity(replicas=2, replica_start_s=5.0)
AZURE = FarmCapacity(replicas=10, replica_start_s=20.0)


def timings(per_frame: float, overhead: float = 0.3, open_s: float = 1.0) -> SceneTimings:
    return SceneTimings(
        seconds_per_frame=per_frame, chunk_overhead_s=overhead, open_s=open_s, frames=48
    )


def test_without_a_measurement_each_replica_gets_about_four_chunks() -> None:
    plan = plan_chunks_for(48, None, TWO_LOCAL_WORKERS)
    assert (plan.size, plan.source) == (6, PlanSource.DEFAULT)
    assert "nothing measured" in plan.reason and "2 replicas" in plan.reason


def test_a_fast_scene_gets_chunks_long_enough_to_keep_overhead_under_its_share() -> None:
    plan = plan_chunks_for(1000, timings(per_frame=0.1, overhead=0.5), AZURE)
    overhead_share = 0.5 / (0.5 + plan.size * 0.1)
    assert overhead_share <= OVERHEAD_SHARE
    assert plan.size == 95  # the smallest such size: 0.5 * 0.95 / (0.05 * 0.1)
    assert plan.source is PlanSource.MEASURED and "overhead" in plan.reason


def test_a_slow_scene_is_spread_over_every_replica() -> None:
    plan = plan_chunks_for(250, timings(per_frame=30.0), AZURE)
    # 7 frames (about 4 chunks per replica) would leave a last round of 6 chunks on 10 replicas;
    # 5 frames make 5 full rounds, as soon as any size, and nearest to 4 chunks per replica.
    assert plan.size == 5
    assert "50 chunks over 10 replicas end soonest" in plan.reason
    assert plan.seconds_per_frame == 30.0


def test_a_small_job_does_not_wake_replicas_it_cannot_keep_busy() -> None:
    # 20 frames of 2 s: 40 s of work; a cold start of 21 s: one replica's worth, not ten.
    plan = plan_chunks_for(20, timings(per_frame=2.0, overhead=0.1), AZURE)
    assert plan.size == 5  # 20 frames / (1 replica x 4 chunks)
    assert "4 chunks over 1 replica end soonest" in plan.reason
    assert "(of 10: a cold start of 21 s is not worth more)" in plan.reason


def test_a_chunk_never_exceeds_the_job_or_the_planned_maximum() -> None:
    assert plan_chunks_for(3, timings(per_frame=0.01, overhead=2.0), AZURE).size == 3
    assert plan_chunks_for(10_000, timings(per_frame=0.01, overhead=2.0), AZURE).size == 100


def test_a_client_size_is_kept_and_said_to_be_the_clients() -> None:
    plan = ChunkPlan.from_client(12)
    assert (plan.size, plan.source, plan.reason) == (
        12,
        PlanSource.CLIENT,
        "12 frames per chunk, as asked",
    )
    assert ChunkPlan.from_dict(plan.to_dict()) == plan


def test_timings_come_from_the_chunks_that_rendered() -> None:
    measured = measured_timings(
        [
            (6, ChunkUsage(worker_s=8.0, download_s=0.5, open_s=1.5, render_s=5.4)),
            (6, ChunkUsage(worker_s=6.0, render_s=5.4)),  # the scene was still open
            (6, ChunkUsage()),  # its frames were all there already: nothing measured
        ]
    )
    assert measured is not None
    assert measured.seconds_per_frame == pytest.approx(10.8 / 12)
    assert measured.open_s == pytest.approx(2.0)
    assert measured.chunk_overhead_s == pytest.approx((0.6 + 0.6) / 2)
    assert measured.frames == 12
    assert measured_timings([(6, ChunkUsage())]) is None


def test_the_running_average_lets_newer_jobs_count() -> None:
    old = SceneTimings(
        seconds_per_frame=1.0, chunk_overhead_s=0.2, open_s=1.0, frames=10 * MAX_REMEMBERED_FRAMES
    )
    new = SceneTimings(seconds_per_frame=3.0, chunk_overhead_s=0.2, open_s=1.0, frames=500)
    merged = old.merged(new)
    assert merged.seconds_per_frame == pytest.approx(2.0)  # the old side weighs 500 at most
    assert merged.frames == MAX_REMEMBERED_FRAMES
    assert SceneTimings.from_json(merged.to_json()) == merged


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b"not json",
        b'{"seconds_per_frame": 0, "chunk_overhead_s": 0, "open_s": 0, "frames": 0}',
    ],
)
def test_unreadable_timings_are_refused(body: bytes) -> None:
    with pytest.raises((ValueError, KeyError)):
        SceneTimings.from_json(body)


def test_other_render_settings_have_their_own_timings() -> None:
    assert settings_key(RenderSettings()) == settings_key(RenderSettings())
    assert settings_key(RenderSettings(samples=4)) != settings_key(RenderSettings(samples=8))
    assert len(settings_key(RenderSettings())) == 16
