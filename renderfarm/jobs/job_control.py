"""What the use cases that change a submitted job (cancel, retry) reach: one constructor for
both, so they are wired alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from renderfarm.jobs.backpressure import Backpressure
from renderfarm.jobs.ports import ChunkQueue, EventPublisher, ManifestStore, TenantIndex
from renderfarm.jobs.status_reader import JobStatusReader

#: The 4.5 pool's Python (3.11) runs this core: no type parameter syntax.
Chunks = TypeVar("Chunks")


class JobControl(Generic[Chunks]):
    """The ports of a use case over a submitted job; ``Chunks`` is what it needs of the chunk
    records (cancel reads them and writes cancel markers, retry rewrites them)."""

    def __init__(  # noqa: PLR0913 - keyword-only: each a port the use case needs
        self,
        *,
        manifests: ManifestStore,
        chunks: Chunks,
        index: TenantIndex,
        queue: ChunkQueue,
        events: EventPublisher,
        statuses: JobStatusReader,
        backpressure: Backpressure,
        clock: Callable[[], datetime],
    ):
        self._manifests = manifests
        self._chunks = chunks
        self._index = index
        self._queue = queue
        self._events = events
        self._statuses = statuses
        self._backpressure = backpressure
        self._clock = clock
