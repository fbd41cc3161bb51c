"""Splitting a job's frames into chunks: one message, one worker, one Blender session each."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: A planned job aims for this many chunks, so that many workers can share it...
TARGET_CHUNKS = 100
#: ...but never more frames per planned chunk than this, so a redelivery redoes little.
MAX_PLANNED_CHUNK_SIZE = 100


@dataclass(frozen=True, kw_only=True)
class Chunk:
    index: int
    frames: tuple[int, ...]


def planned_chunk_size(frame_count: int) -> int:
    """Frames per chunk when the client does not say: enough chunks to spread, few to open."""
    if frame_count < 1:
        raise ValueError("a job has at least one frame")
    return max(1, min(MAX_PLANNED_CHUNK_SIZE, math.ceil(frame_count / TARGET_CHUNKS)))


def plan_chunks(frames: tuple[int, ...], chunk_size: int) -> tuple[Chunk, ...]:
    """Consecutive slices of ``frames`` in order, each at most ``chunk_size`` long."""
    if chunk_size < 1:
        raise ValueError("chunk size must be at least 1")
    return tuple(
        Chunk(index=index, frames=frames[start : start + chunk_size])
        for index, start in enumerate(range(0, len(frames), chunk_size))
    )
