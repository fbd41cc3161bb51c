"""A chunk's worker seconds: in its record, in its blob metadata, and back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from renderfarm.chunks.record import ChunkRecord, ChunkState, ChunkSummary
from renderfarm.chunks.usage import ChunkUsage

USAGE = ChunkUsage(
    worker_s=12.3456,
    download_s=0.5,
    open_s=0.25,
    render_s=10.0,
    upload_s=1.125,
    uploaded_bytes=4096,
)


def record(usage: ChunkUsage = USAGE) -> ChunkRecord:
    return ChunkRecord(
        job_id="0" * 32,
        chunk_index=3,
        state=ChunkState.DONE,
        attempts=1,
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        usage=usage,
    )


def test_usage_round_trips_through_the_record_json() -> None:
    again = ChunkRecord.from_json(record().to_json())
    assert again.usage == ChunkUsage(
        worker_s=12.346,
        download_s=0.5,
        open_s=0.25,
        render_s=10.0,
        upload_s=1.125,
        uploaded_bytes=4096,
    )


def test_a_record_written_before_usage_was_kept_reads_as_none_used() -> None:
    body = record().to_json().replace('"usage"', '"ignored"')
    assert ChunkRecord.from_json(body).usage == ChunkUsage()


def test_metadata_carries_usage_as_short_numbers() -> None:
    metadata = record().to_metadata()
    assert {key: metadata[key] for key in ("worker_s", "render_s", "upload_s", "bytes")} == {
        "worker_s": "12.346",
        "render_s": "10",
        "upload_s": "1.125",
        "bytes": "4096",
    }
    usage_keys = ("worker_s", "download_s", "open_s", "render_s", "upload_s", "bytes")
    assert all(metadata[key].isascii() and len(metadata[key]) <= 16 for key in usage_keys)


def test_a_summary_from_the_listing_has_the_usage() -> None:
    summary = ChunkSummary.from_metadata(record().to_metadata())
    assert summary is not None
    assert summary.usage.worker_s == pytest.approx(12.346)
    assert summary.usage.uploaded_bytes == 4096
    assert ChunkSummary.of(record()).usage == USAGE


def test_no_usage_adds_no_metadata() -> None:
    metadata = record(ChunkUsage()).to_metadata()
    assert not {"worker_s", "bytes"} & set(metadata)
    summary = ChunkSummary.from_metadata(metadata)
    assert summary is not None and summary.usage.is_empty


def test_metadata_that_is_not_a_number_is_not_ours() -> None:
    metadata = {**record().to_metadata(), "worker_s": "lots"}
    assert ChunkSummary.from_metadata(metadata) is None


def test_usages_add_up() -> None:
    total = USAGE + USAGE
    assert total.worker_s == pytest.approx(2 * USAGE.worker_s)
    assert total.uploaded_bytes == 8192
