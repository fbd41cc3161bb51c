"""The per-tenant cap on waiting frames: a submit that would pass it is refused (429)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from renderfarm.chunks.record import ChunkState
from renderfarm.jobs.ports import ChunkRecords, IndexEntry, TenantIndex
from renderfarm.shared.errors import QueuedFramesCapExceeded

#: Unfinished jobs whose chunk records are listed at once when counting queued frames.
CAP_CHECK_THREADS = 8
#: How old the per-tenant count of waiting frames may be before it is counted again.
CAP_ESTIMATE_SECONDS = 5.0
_FINISHED = frozenset({ChunkState.DONE, ChunkState.FAILED, ChunkState.CANCELLED})


class Backpressure:
    """Counting costs a listing per unfinished job, so a count is kept per tenant for
    CAP_ESTIMATE_SECONDS, with the frames this process accepted since added to it."""

    def __init__(
        self,
        *,
        index: TenantIndex,
        chunks: ChunkRecords,
        max_queued_frames: int,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._index = index
        self._chunks = chunks
        self._max_queued_frames = max_queued_frames
        self._monotonic = monotonic
        # tenant -> (when counted, frames waiting then + frames accepted here since)
        self._waiting: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def check(self, tenant: str, *, asked: int) -> None:
        """Raise QueuedFramesCapExceeded when ``asked`` more frames would pass the cap."""
        waiting = self._estimated_waiting(tenant)
        if waiting + asked > self._max_queued_frames:
            raise QueuedFramesCapExceeded(waiting=waiting, asked=asked, cap=self._max_queued_frames)

    def accepted(self, tenant: str, frames: int) -> None:
        """A job of ``frames`` frames was accepted: they wait too, until the next count."""
        with self._lock:
            if tenant in self._waiting:
                counted_at, waiting = self._waiting[tenant]
                self._waiting[tenant] = (counted_at, waiting + frames)

    def forget(self, tenant: str) -> None:
        """A job ended early (cancelled): count again at the next submit."""
        with self._lock:
            self._waiting.pop(tenant, None)

    def _estimated_waiting(self, tenant: str) -> int:
        now = self._monotonic()
        with self._lock:
            cached = self._waiting.get(tenant)
        if cached is not None and now - cached[0] < CAP_ESTIMATE_SECONDS:
            return cached[1]
        waiting = self.queued_frames(tenant)
        with self._lock:
            self._waiting[tenant] = (now, waiting)
        return waiting

    def queued_frames(self, tenant: str) -> int:
        """Frames of the tenant's unfinished jobs whose chunks have not finished.

        An estimate from chunk records (one cheap listing per unfinished job), good enough for
        backpressure; frames of a chunk still rendering count as waiting.
        """
        waiting, cursor = 0, None
        with ThreadPoolExecutor(max_workers=CAP_CHECK_THREADS) as pool:
            while True:
                page = self._index.index_page(tenant, size=1000, cursor=cursor)
                unfinished = [entry for entry in page.entries if not entry.terminal]
                waiting += sum(pool.map(self._waiting_frames, unfinished))
                cursor = page.cursor
                if cursor is None:
                    return waiting

    def _waiting_frames(self, entry: IndexEntry) -> int:
        summaries = self._chunks.chunk_summaries(entry.job_id)
        done = sum(
            min(entry.chunk_size, entry.frames_total - index * entry.chunk_size)
            for index, summary in summaries.items()
            if summary.state in _FINISHED
        )
        return max(0, entry.frames_total - done)
