"""Priority bands: a job's priority (0..9, or a band's name) decides which queue its chunks wait
in, and a worker takes from the highest band's queue first.

The mapping (docs/pools.md "Priority bands"): 0-3 low, 4-6 normal, 7-9 high; the default
priority, 5, is normal. A band's name stands for the middle of its range: low 2, normal 5, high
8, so a job's priority is always stored and sent as an integer, the same wire shape as before
bands existed.
Must run on Python 3.11 too (the workers of the Blender 4.5 pool).
"""

from __future__ import annotations

from enum import StrEnum

MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 0, 9, 5


class Band(StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


#: Highest first: the order in which a worker tries its queues.
BANDS = (Band.HIGH, Band.NORMAL, Band.LOW)
#: The integer priority a band's name stands for.
BAND_PRIORITY = {Band.LOW: 2, Band.NORMAL: 5, Band.HIGH: 8}
#: The lowest priority of each band above low.
NORMAL_FROM, HIGH_FROM = 4, 7


def band_of(priority: int) -> Band:
    """0-3 low, 4-6 normal, 7-9 high."""
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority {priority} is outside {MIN_PRIORITY}..{MAX_PRIORITY}")
    if priority >= HIGH_FROM:
        return Band.HIGH
    return Band.NORMAL if priority >= NORMAL_FROM else Band.LOW
