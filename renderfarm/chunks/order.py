"""The order a job's chunks are sent in: preview-first (coarse to fine over the shot) or
sequential (file order).

Only the send order changes: a chunk keeps its index (its frames' place in the shot), which its
record, its message id, the ledger and the status name it by, and a chunk's frames render in
order. A queue hands out its messages roughly in the order they were sent, so the chunks sent
first are the ones the first free workers take: with N workers, the first N of them render at
once, and the rest follow as workers free up. Preview-first therefore puts the first, last and
middle chunks at the head of the queue, then the middles of the gaps they leave, halving each
time (a breadth-first bisection of the shot), so an artist sees the whole shot early and it
sharpens as the rest lands.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum


class ChunkOrder(StrEnum):
    """How a job's chunks are sent: ``preview_first`` by default for new jobs."""

    PREVIEW_FIRST = "preview_first"  # first, last, middle, then the gaps' middles, halving
    SEQUENTIAL = "sequential"  # file order


def preview_first(count: int) -> tuple[int, ...]:
    """Chunk indices ``0..count-1``, each once: the first, the last, the middle, then the middle
    of each gap those leave, level by level (every gap of one level halves before any of the
    next), each level from the shot's start to its end."""
    if count < 1:
        return ()
    if count == 1:
        return (0,)
    order = [0, count - 1]
    gaps = deque([(0, count - 1)])  # neighbours already sent, with unsent chunks between them
    while gaps:
        low, high = gaps.popleft()
        if high - low < 2:  # nothing between them
            continue
        middle = (low + high) // 2
        order.append(middle)
        gaps.extend(((low, middle), (middle, high)))
    return tuple(order)


def send_order(count: int, order: ChunkOrder) -> tuple[int, ...]:
    """The indices of a job's ``count`` chunks in the order they are sent."""
    if order is ChunkOrder.PREVIEW_FIRST:
        return preview_first(count)
    return tuple(range(count))
