"""The order a job's chunks are sent in: preview-first (coarse to fine) or sequential."""

import itertools
import json
from datetime import UTC, datetime

import pytest

from renderfarm.chunks.order import ChunkOrder, preview_first, send_order
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.spec import JobRequest

JOB = "0123456789abcdef0123456789abcdef"


def manifest(frames: str, chunk_size: int, **fields: object) -> JobManifest:
    request = JobRequest.model_validate(
        {"scene_sha256": "d" * 64, "frames": frames, "chunk_size": chunk_size, **fields}
    )
    return JobManifest.new(
        job_id=JOB,
        tenant="acme",
        spec=request.to_spec(),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        fingerprint="f",
        blender="5.3",
        scene_saved_by="5.3",
        blender_pinned=False,
    )


@pytest.mark.parametrize("count", [*range(1, 40), 64, 65, 250, 1000, 4097])
def test_preview_first_sends_every_chunk_exactly_once(count: int) -> None:
    order = preview_first(count)
    assert sorted(order) == list(range(count))


def test_small_jobs_send_their_chunks_first_last_then_middle() -> None:
    assert preview_first(0) == ()
    assert preview_first(1) == (0,)
    assert preview_first(2) == (0, 1)
    assert preview_first(3) == (0, 2, 1)
    assert preview_first(4) == (0, 3, 1, 2)
    assert preview_first(5) == (0, 4, 2, 1, 3)


def test_twenty_chunks_go_first_last_middle_then_the_gaps_halving() -> None:
    frames = [index + 1 for index in preview_first(20)]  # one-frame chunks of frames 1-20
    assert frames[:3] == [1, 20, 10]
    assert frames[3:5] == [5, 15]  # the middles of the two halves
    assert frames[5:9] == [3, 7, 12, 17]  # then of the four quarters
    assert sorted(frames[9:]) == [2, 4, 6, 8, 9, 11, 13, 14, 16, 18, 19]


def test_each_level_halves_the_largest_gap_left() -> None:
    """After the first 2 + (2**k - 1) chunks are sent, no gap of unsent chunks is longer than
    about count / 2**k: the whole shot sharpens evenly, not one end first."""
    count = 250
    order = preview_first(count)
    for level in range(1, 8):
        sent = sorted(order[: 1 + 2**level])
        widest = max(b - a - 1 for a, b in itertools.pairwise(sent))
        assert widest <= count / 2**level, (level, widest)


def test_sequential_keeps_file_order() -> None:
    assert send_order(5, ChunkOrder.SEQUENTIAL) == (0, 1, 2, 3, 4)
    assert send_order(5, ChunkOrder.PREVIEW_FIRST) == preview_first(5)


def test_a_new_job_is_sent_preview_first_and_its_chunks_keep_their_numbers() -> None:
    job = manifest("1-20", chunk_size=2)
    messages = job.messages()
    assert [m.chunk_index for m in messages][:3] == [0, 9, 4]
    # A chunk's number and frames are its place in the shot, whatever the order it is sent in.
    for message in messages:
        assert message.frames == job.chunks[message.chunk_index].frames
        assert message.message_id == f"{JOB}:{message.chunk_index}"
    assert [frames for m in messages[:2] for frames in m.frames] == [1, 2, 19, 20]


def test_a_sequential_job_is_sent_in_file_order() -> None:
    job = manifest("1-20", chunk_size=2, order="sequential")
    assert [m.chunk_index for m in job.messages()] == list(range(10))


def test_the_order_survives_the_manifest_and_an_old_manifest_reads_as_sequential() -> None:
    job = manifest("1-20", chunk_size=1)
    assert job.spec.order is ChunkOrder.PREVIEW_FIRST
    assert JobManifest.from_json(job.to_json()) == job
    data = json.loads(job.to_json())
    del data["spec"]["order"]  # written before jobs had an order
    old = JobManifest.from_json(json.dumps(data))
    assert old.spec.order is ChunkOrder.SEQUENTIAL
    assert [m.chunk_index for m in old.messages()] == list(range(20))


def test_an_unknown_order_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="order"):
        JobRequest.model_validate({"scene_sha256": "d" * 64, "frames": "1", "order": "random"})
