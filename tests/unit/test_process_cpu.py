"""bench/process_cpu.py: the CPU a process spent over a span, read from /proc and taken from the
samples around the span."""

from __future__ import annotations

import os
import time

from bench.process_cpu import CpuSampler, cpu_seconds


def test_a_process_cpu_time_grows_as_it_computes_and_is_none_once_gone() -> None:
    before = cpu_seconds(os.getpid())
    started = time.process_time()
    while time.process_time() - started < 0.05:
        sum(range(1000))
    after = cpu_seconds(os.getpid())
    assert before is not None and after is not None and after > before
    assert cpu_seconds(2**22 + 1) is None  # past Linux's largest pid


def test_a_span_is_read_from_the_samples_around_it_and_a_process_gone_is_left_out() -> None:
    # Four samples, at 10, 11, 12 and 13 s; pid 2 ("events") exits after the first.
    times = iter([10.0, 11.0, 12.0, 13.0])
    cpu: list[dict[int, float | None]] = [
        {1: 0.0, 2: 5.0},
        {1: 1.0, 2: None},
        {1: 3.0, 2: None},
        {1: 6.0, 2: None},
    ]
    reading: dict[int, float | None] = {}
    sampler = CpuSampler(
        lambda: {"api": 1, "events": 2}, clock=lambda: next(times), read=reading.__getitem__
    )
    for values in cpu:
        reading.update(values)
        sampler.sample()
    assert sampler.between(11.5, 12.5) == {"api": 6.0 - 1.0}  # from the 11 s sample to 13 s
    assert sampler.between(11.0, 12.0) == {"api": 3.0 - 1.0}  # a sample on the span's edge
    assert sampler.between(0.0, 99.0) == {"api": 6.0}  # rounded out to the first and last
