"""What a chunk attempt's log keeps (its last MiB, whole lines), how its facts travel in blob
metadata, and how a reader's offset lands (renderfarm.chunks.logs)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from renderfarm.chunks.logs import (
    MAX_LOG_BYTES,
    ChunkLog,
    LineSplitter,
    LogFacts,
    LogTail,
)
from renderfarm.shared import blob_layout as layout

STARTED = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
JOB = "a" * 32


def test_a_log_keeps_its_last_mib_in_whole_lines_and_counts_what_it_dropped() -> None:
    tail = LogTail()
    line = "Fra:1 Mem:12.00M | Sample 1/128\n"  # 32 bytes
    count = MAX_LOG_BYTES // len(line) + 100
    tail.add([line] * count)
    content = tail.content()
    assert len(content) <= MAX_LOG_BYTES
    assert len(content) > MAX_LOG_BYTES - len(line)
    assert content.startswith(line.encode())  # cut where a line starts
    assert tail.dropped + len(content) == count * len(line)


def test_a_line_longer_than_the_whole_log_keeps_its_end_without_cutting_a_character() -> None:
    tail = LogTail(max_bytes=10)
    tail.add(["é" * 8])  # 16 bytes and a newline
    content = tail.content()
    assert len(content) <= 10
    assert content.decode("utf-8").endswith("é\n")
    assert tail.dropped + len(content) == 17


def test_lines_come_out_whole_however_the_output_was_cut() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"Read blend: /tmp/cache/stu") == []
    assert splitter.feed(b"dio/scene.blend\nFra:1 ") == [
        "Read blend: /tmp/cache/studio/scene.blend\n"
    ]
    assert splitter.feed(b"Sample 1/8\nFra:1 Sample 2/8") == ["Fra:1 Sample 1/8\n"]
    assert splitter.rest() == ["Fra:1 Sample 2/8"]
    assert splitter.rest() == []


def test_a_runaway_line_is_cut_at_the_line_cap_on_a_character_boundary() -> None:
    splitter = LineSplitter(max_line_bytes=5)
    # 3 + 2 + 3 + 2 bytes and no newline: the first cut would fall inside "€".
    assert splitter.feed("abcé€xy".encode()) == ["abcé", "€xy"]
    assert splitter.rest() == []
    assert splitter.feed("abc€".encode()) == ["abc"]  # 6 bytes: "€" waits for what follows
    assert splitter.rest() == ["€"]


def test_a_logs_facts_travel_in_ascii_blob_metadata_and_back() -> None:
    facts = LogFacts(
        job_id=JOB,
        chunk_index=3,
        attempt=2,
        worker_id="worker-ü-7",
        started_at=STARTED,
        ended_at=STARTED.replace(minute=31),
        offset=4096,
    )
    metadata = facts.to_metadata()
    assert all(value.isascii() for value in metadata.values())
    back = LogFacts.from_metadata(metadata, job_id=JOB, chunk_index=3, attempt=2)
    assert back is not None
    assert (back.ended_at, back.offset, back.worker_id) == (facts.ended_at, 4096, "worker-?-7")
    running = LogFacts(job_id=JOB, chunk_index=3, attempt=1, worker_id="w", started_at=STARTED)
    assert "ended_at" not in running.to_metadata()
    assert LogFacts.from_metadata({"worker": "w"}, job_id=JOB, chunk_index=3, attempt=1) is None


@pytest.mark.parametrize(
    ("asked", "start", "text"),
    [(0, 100, "one\ntwo\n"), (100, 100, "one\ntwo\n"), (104, 104, "two\n"), (500, 108, "")],
)
def test_a_reader_gets_the_log_from_its_offset_within_what_is_kept(
    asked: int, start: int, text: str
) -> None:
    facts = LogFacts(
        job_id=JOB, chunk_index=0, attempt=1, worker_id="w", started_at=STARTED, offset=100
    )
    log = ChunkLog(facts=facts, content=b"one\ntwo\n", etag='"1"')
    assert log.next_offset == 108
    assert log.since(asked) == (start, text)


def test_each_attempt_has_a_blob_of_its_own_under_its_chunk() -> None:
    name = layout.chunk_log_blob(JOB, 4, 12)
    assert name == f"{JOB}/logs/4/12.log"
    assert layout.log_attempt_of(name, JOB, 4) == 12
    assert layout.log_attempt_of(name, JOB, 41) is None
    assert layout.log_attempt_of(f"{JOB}/logs/4/0.log", JOB, 4) is None
    with pytest.raises(ValueError, match="from 1"):
        layout.chunk_log_blob(JOB, 4, 0)
