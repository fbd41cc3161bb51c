import pytest

from renderfarm.chunks.chunking import MAX_PLANNED_CHUNK_SIZE, plan_chunks, planned_chunk_size


def test_chunks_cover_every_frame_once_in_order() -> None:
    frames = (1, 2, 3, 5, 8, 13, 21)
    chunks = plan_chunks(frames, 3)
    assert [c.index for c in chunks] == [0, 1, 2]
    assert [c.frames for c in chunks] == [(1, 2, 3), (5, 8, 13), (21,)]


def test_small_jobs_get_one_frame_per_chunk() -> None:
    assert planned_chunk_size(50) == 1


def test_large_jobs_spread_over_about_a_hundred_chunks() -> None:
    assert planned_chunk_size(10_000) == 100
    assert len(plan_chunks(tuple(range(10_000)), planned_chunk_size(10_000))) == 100


def test_planned_chunks_never_exceed_the_maximum() -> None:
    assert planned_chunk_size(100_000) == MAX_PLANNED_CHUNK_SIZE


def test_a_job_without_frames_cannot_be_planned() -> None:
    with pytest.raises(ValueError):
        planned_chunk_size(0)
    with pytest.raises(ValueError):
        plan_chunks((1,), 0)
