"""How a chunk's attempt ended, for the worker loop to settle its message."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    COMPLETE = "complete"  # done, or cancelled: nothing left to do anywhere
    ABANDON = "abandon"  # this replica failed or is stopping: another delivery continues
    DEAD_LETTER = "dead-letter"  # the chunk fails wherever it runs
    HOLD = "hold"  # a spent budget holds it: it waits, queued, and looks again later


class Health(Enum):
    """What a chunk's end says about this replica (errors.py: when its state is in doubt)."""

    SOUND = "sound"  # it worked, or failed in a way the worker knows
    UNEXPECTED = "unexpected"  # an exception none of ours, outside Blender
    IN_DOUBT = "in-doubt"  # Blender raised something none of ours, or memory ran out


@dataclass(frozen=True, kw_only=True)
class Outcome:
    verdict: Verdict
    reason: str = ""
    description: str = ""
    frames_rendered: int = 0
    health: Health = Health.SOUND
