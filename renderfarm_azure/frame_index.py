"""The FrameIndex port over the ``jobs`` container: which of a job's frames are stored, from
listings of ``<id>/frames/`` by name prefix (the blobs are the truth)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from azure.storage.blob import ContainerClient

from renderfarm.shared import blob_layout as layout
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm_azure.guard import guarded

#: Listings one call runs at once (the SDK's connection pool holds 10).
_PARALLEL = 8


class BlobFrameIndex:
    def __init__(self, *, container: ContainerClient, breaker: CircuitBreaker):
        self._container = container
        self._breaker = breaker

    def frames_present(
        self, job_id: str, name_prefixes: Sequence[str] | None = None
    ) -> frozenset[int]:
        base = layout.frames_prefix(job_id)

        def listing(prefix: str) -> frozenset[int]:
            names = self._container.list_blob_names(name_starts_with=base + prefix)
            return frozenset(
                frame for name in names if (frame := layout.frame_of(name, job_id)) is not None
            )

        if name_prefixes is None:
            return guarded(self._breaker, lambda: listing(""))
        if len(name_prefixes) == 1:
            return guarded(self._breaker, lambda: listing(name_prefixes[0]))
        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            found = pool.map(lambda p: guarded(self._breaker, lambda: listing(p)), name_prefixes)
            return frozenset().union(*found)

    def frames_in(self, job_id: str, frames: Sequence[int]) -> frozenset[int]:
        """Which of ``frames`` (one chunk's) have their blobs: listings by name prefix, at most
        one per frame and usually one in all, whatever the job's size. The blobs are the truth,
        so a frame uploaded just before a crash counts even if no record says so yet."""
        wanted = frozenset(frames)
        found = self.frames_present(job_id, layout.chunk_frame_prefixes(frames))
        return found & wanted
