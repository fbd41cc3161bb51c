"""The worker's seconds per attempt: totals over attempts, never counted twice."""

from __future__ import annotations

from containerapp_worker.chunk_timer import AttemptTimer
from renderfarm.chunks.record import ChunkRecord, ChunkState
from renderfarm.chunks.usage import ChunkUsage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


NONE = ChunkUsage()


def blank(usage: ChunkUsage = NONE) -> ChunkRecord:
    return ChunkRecord(job_id="0" * 32, chunk_index=0, state=ChunkState.PENDING, usage=usage)


def test_parts_are_measured_and_worker_time_runs_from_pick_up() -> None:
    clock = Clock()
    timer = AttemptTimer(clock)
    with timer.downloading():
        clock.now += 2
    with timer.opening():
        clock.now += 1
    timer.rendered(5.0)
    timer.uploaded(0.5, 1000)
    clock.now += 3
    assert timer.so_far() == ChunkUsage(
        worker_s=6.0, download_s=2.0, open_s=1.0, render_s=5.0, upload_s=0.5, uploaded_bytes=1000
    )


def test_every_write_carries_earlier_attempts_plus_this_one_so_far() -> None:
    clock = Clock()
    timer = AttemptTimer(clock)
    earlier = blank(ChunkUsage(worker_s=10.0, render_s=7.0))
    clock.now += 1
    first = timer.stamp(earlier, earlier)
    timer.recorded(earlier)
    assert first.usage.worker_s == 11.0
    clock.now += 4
    timer.rendered(3.0)
    # a progress write over our own first write: the earlier attempts count once
    second = timer.stamp(first, first)
    timer.recorded(first)
    assert (second.usage.worker_s, second.usage.render_s) == (15.0, 10.0)


def test_a_new_attempt_starts_from_what_the_record_says() -> None:
    clock = Clock()
    timer = AttemptTimer(clock)
    clock.now += 5
    killed = timer.stamp(blank(), blank())  # the last write of an attempt that was then killed
    timer.restart()
    clock.now += 2
    again = timer.stamp(killed, killed)
    assert again.usage.worker_s == 7.0


def test_the_attempts_shares_add_up_to_the_records_totals_to_the_millisecond() -> None:
    """Usage adds each attempt's ``written``; the job's cost reads the record, which keeps
    seconds to the millisecond: the shares are of the kept totals, so the two agree."""
    clock = Clock()
    timer = AttemptTimer(clock)
    record = blank()
    shares = ChunkUsage()
    for seconds in (0.12345, 0.3339, 1.0004):
        timer.restart()
        clock.now += seconds
        written = timer.stamp(record, record)
        timer.recorded(record)
        shares = shares + timer.written
        record = ChunkRecord.from_json(written.to_json())  # as Blob keeps it
    assert record.usage.worker_s == 1.457
    assert abs(shares.worker_s - record.usage.worker_s) < 1e-12
