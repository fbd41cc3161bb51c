"""The CPU seconds each process of a set spent over a span of wall time, from ``/proc`` (Linux).

Samples are taken when asked, and the span is chosen after the fact: a farm's job is known to
have ended only after its last frame. No thread of its own takes them: reading a dozen
``/proc/<pid>/stat`` files costs well under a millisecond, but a thread that woke four times a
second beside Blender measurably slowed it (bench_farm went from 1.10 to 1.20 of bare Blender
with one), so bench_farm samples when its follower wakes anyway.
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Callable, Mapping

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds of the process ``pid`` (all its threads); None once gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S  # utime, stime


class CpuSampler:
    """Samples of ``processes()`` (name -> pid), each taken when ``sample()`` is called."""

    def __init__(
        self,
        processes: Callable[[], Mapping[str, int]],
        clock: Callable[[], float] = time.time,
        read: Callable[[int], float | None] = cpu_seconds,
    ):
        self._processes = processes
        self._read = read
        self._clock = clock
        self._times: list[float] = []  # the clock (wall: time.time()) at each sample
        self._samples: list[dict[str, float]] = []

    def sample(self) -> None:
        """One sample now."""
        found = {name: self._read(pid) for name, pid in self._processes().items()}
        self._samples.append({name: cpu for name, cpu in found.items() if cpu is not None})
        self._times.append(self._clock())

    def between(self, start: float, end: float) -> dict[str, float]:
        """Each process's CPU seconds from the last sample at or before ``start`` to the first
        at or after ``end`` (the span, rounded out to the samples around it)."""
        first = max(0, bisect.bisect_right(self._times, start) - 1)
        last = min(len(self._times) - 1, bisect.bisect_left(self._times, end))
        before, after = self._samples[first], self._samples[last]
        return {name: after[name] - before[name] for name in after if name in before}
