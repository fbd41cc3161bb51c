"""Settling a chunk in its job: the one way the worker and the dead-letter handler both do it.

A chunk settles once it has its last word (done, cancelled, or failed for good). A failure is said
first, so that the job's end, if this chunk is its last, follows its ``chunk.failed`` event; then
the job's ledger counts the chunk, and the last chunk to be counted records the job's end.
Every step is safe to repeat: a redelivered message, or both the worker and the dead-letter
handler settling the same chunk, change nothing twice.
"""

from __future__ import annotations

from typing import Protocol

from renderfarm.chunks.record import ChunkState
from renderfarm.jobs.manifest import JobManifest


class JobLedger(Protocol):
    """Where a job's settled chunks are counted and its end is recorded
    (renderfarm.jobs.lifecycle.JobLifecycle)."""

    def chunk_failed(self, manifest: JobManifest, index: int, error: str) -> None: ...
    def chunk_settled(self, manifest: JobManifest, index: int, state: ChunkState) -> str | None: ...


def settle_chunk(
    ledger: JobLedger, manifest: JobManifest, index: int, state: ChunkState, *, error: str = ""
) -> str | None:
    """Settle chunk ``index`` of ``manifest``'s job as ``state``; returns the job's outcome once
    this settle ended it (or it had ended), else None."""
    if state is ChunkState.FAILED:
        ledger.chunk_failed(manifest, index, error)
    return ledger.chunk_settled(manifest, index, state)
