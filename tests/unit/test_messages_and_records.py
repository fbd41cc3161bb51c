from dataclasses import replace
from datetime import UTC, datetime

import pytest

from renderfarm.chunks.record import ChunkRecord, ChunkState, ChunkSummary
from renderfarm.jobs.chunk_messages import (
    ChunkMessage,
    MessageFormatError,
    message_id,
    parse_message_id,
)
from renderfarm.shared.render_settings import Engine, RenderSettings

JOB = "0123456789abcdef0123456789abcdef"
TRACE = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01", "tracestate": "k=v", "x": "y"}


def message() -> ChunkMessage:
    return ChunkMessage(
        job_id=JOB,
        chunk_index=3,
        frames=(7, 8, 9),
        scene_sha256="c" * 64,
        render=RenderSettings(engine=Engine.CYCLES, samples=16),
        tenant="acme",
        priority=5,
    )


def test_message_id_is_job_colon_chunk_and_reads_back() -> None:
    assert message().message_id == f"{JOB}:3"
    assert parse_message_id(message_id(JOB, 3)) == (JOB, 3, 0)


def test_a_retry_rounds_message_has_an_id_of_its_own_and_says_its_round() -> None:
    retried = replace(message(), round=2)
    assert retried.message_id == f"{JOB}:3:r2"  # never dropped as a copy of the first
    assert parse_message_id(retried.message_id) == (JOB, 3, 2)
    assert ChunkMessage.from_json(retried.to_json()) == retried
    assert "round" not in message().to_json()  # the first render's body is as it was


def test_message_body_round_trips() -> None:
    assert ChunkMessage.from_json(message().to_json()) == message()


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"version": 2}', b'{"version": 1}'])
def test_a_body_that_is_not_a_chunk_message_says_so(body: bytes) -> None:
    with pytest.raises(MessageFormatError):
        ChunkMessage.from_json(body)


def test_application_properties_carry_only_the_w3c_trace_context_and_ids() -> None:
    properties = message().application_properties(TRACE)
    assert properties == {
        "traceparent": TRACE["traceparent"],
        "tracestate": "k=v",
        "job_id": JOB,
        "tenant": "acme",
    }


def test_chunk_record_round_trips_and_trims_its_log() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    record = (
        ChunkRecord(
            job_id=JOB,
            chunk_index=1,
            state=ChunkState.RENDERING,
            attempts=2,
            frames_done=(1, 2),
            worker_id="w-1",
            started_at=now,
            frame_seconds={1: 0.5},
        )
        .with_log("x" * 10_000)
        .with_error("boom")
    )
    assert len(record.log_tail) == 4_000
    assert ChunkRecord.from_json(record.to_json()) == record


def test_chunk_metadata_summarises_the_record() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    record = ChunkRecord(
        job_id=JOB, chunk_index=0, state=ChunkState.DONE, attempts=1, finished_at=now
    )
    assert ChunkSummary.from_metadata(record.to_metadata()) == ChunkSummary.of(record)


def test_foreign_metadata_gives_no_summary() -> None:
    assert ChunkSummary.from_metadata({"state": "exploded"}) is None
    assert ChunkSummary.from_metadata({}) is None


def test_chunk_metadata_names_the_frames_done_in_a_few_characters() -> None:
    record = ChunkRecord(
        job_id=JOB,
        chunk_index=0,
        state=ChunkState.RENDERING,
        attempts=1,
        frames_done=(*range(1, 200, 2), 250),
    )
    metadata = record.to_metadata()
    assert metadata["frames"] == "1-199x2,250"
    assert ChunkSummary.from_metadata(metadata) == ChunkSummary.of(record)


def test_chunk_metadata_of_a_record_with_no_frames_done_says_none() -> None:
    record = ChunkRecord(job_id=JOB, chunk_index=0, state=ChunkState.RENDERING, attempts=1)
    summary = ChunkSummary.from_metadata(record.to_metadata())
    assert summary is not None and summary.frames_done == frozenset()


def test_chunk_metadata_leaves_out_frames_too_scattered_to_fit() -> None:
    scattered = tuple(frame for frame in range(0, 6_000) if frame % 3 and frame % 7)
    record = ChunkRecord(
        job_id=JOB, chunk_index=0, state=ChunkState.RENDERING, frames_done=scattered
    )
    summary = ChunkSummary.from_metadata(record.to_metadata())
    assert "frames" not in record.to_metadata()
    assert summary is not None and summary.frames_done is None  # so the API lists them


def test_unreadable_frames_metadata_means_the_frames_are_unknown() -> None:
    summary = ChunkSummary.from_metadata({"state": "rendering", "frames": "1-x"})
    assert summary is not None and summary.frames_done is None
