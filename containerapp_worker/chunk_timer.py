"""The worker seconds of one attempt at a chunk, measured as it runs, for the chunk record.

Each record write carries the chunk's totals: what earlier attempts recorded plus this attempt
so far. Those earlier totals are read from the record this attempt first wrote over, so writing
them again (every progress write, a retried write) never counts twice, and an attempt killed
mid-chunk still counts up to its last progress write.

What the attempt itself wrote into the record (its seconds, bytes and the frames it uploaded) is
also kept for the tenant's usage (containerapp_worker/billing.py), with the record its start
wrote (whose attempt number names it). That share is taken from the totals as the record keeps
them (rounded to the millisecond), so the attempts' shares add up to the record's totals.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from renderfarm.chunks.record import ChunkRecord
from renderfarm.chunks.usage import ChunkUsage


class AttemptTimer:
    """Parts are added from the renderer's thread and the uploader's: hence the lock."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.restart()

    def restart(self) -> None:
        """A new attempt starts now (the message was just picked up)."""
        with self._lock:
            self._started = self._clock()
            self._parts = ChunkUsage()
            self._earlier: ChunkUsage | None = None
            self._stamped = ChunkUsage()
            #: This attempt's share of the last record write that succeeded.
            self.written = ChunkUsage()
            #: Frames this attempt uploaded (not those an earlier delivery had).
            self.frames_written = 0
            #: The record as the attempt's start wrote it.
            self.start: ChunkRecord | None = None

    @contextmanager
    def downloading(self) -> Iterator[None]:
        """Fetching the scene (from the replica's cache, or from Blob)."""
        started = self._clock()
        try:
            yield
        finally:
            self._add(ChunkUsage(download_s=self._clock() - started))

    @contextmanager
    def opening(self) -> Iterator[None]:
        """Opening the scene in Blender and applying the job's settings."""
        started = self._clock()
        try:
            yield
        finally:
            self._add(ChunkUsage(open_s=self._clock() - started))

    def rendered(self, seconds: float) -> None:
        self._add(ChunkUsage(render_s=seconds))

    def uploaded(self, seconds: float, size: int, *, written: bool = True) -> None:
        self._add(ChunkUsage(upload_s=seconds, uploaded_bytes=size))
        if written:
            with self._lock:
                self.frames_written += 1

    def _add(self, usage: ChunkUsage) -> None:
        with self._lock:
            self._parts = self._parts + usage

    def so_far(self) -> ChunkUsage:
        with self._lock:
            return replace(self._parts, worker_s=self._clock() - self._started)

    def stamp(self, written_over: ChunkRecord, record: ChunkRecord) -> ChunkRecord:
        """``record`` (about to replace ``written_over``) with the chunk's usage totals."""
        with self._lock:
            earlier = self._earlier
        base = earlier if earlier is not None else written_over.usage
        total = (base + self.so_far()).as_stored()
        with self._lock:
            # This attempt's share of the totals as the record keeps them (to the millisecond),
            # not as measured: added up over the attempts, the usage totals then equal the
            # record's, and so the job's cost, exactly.
            self._stamped = total - base
        return replace(record, usage=total)

    def recorded(self, written_over: ChunkRecord) -> None:
        """A write over ``written_over`` succeeded: the first one fixes the earlier totals."""
        with self._lock:
            if self._earlier is None:
                self._earlier = written_over.usage
            self.written = self._stamped

    def counted(self, start: ChunkRecord) -> None:
        """The attempt's start was written as ``start``."""
        self.start = start
