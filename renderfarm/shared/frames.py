"""Frame lists in Blender's own syntax: ``1-250``, ``1-10,20,30-40``, ``1-100x5``.

A range may run backwards, as Deadline's frame lists do: ``10-1`` names frames 1 to 10, and
``10-1x3`` counts down from 10 (10, 7, 4, 1). A list names a set of frames; the farm chooses the
order it renders them in (renderfarm.chunks).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Blender's MAXFRAME; negative frames are not accepted by the farm.
MAX_FRAME = 1_048_574
#: The most frames one job may ask for (keeps manifests, messages and status bounded).
MAX_FRAMES_PER_JOB = 100_000

_ITEM_RE = re.compile(r"^(?P<start>\d{1,7})(?:-(?P<end>\d{1,7})(?:x(?P<step>\d{1,7}))?)?$")
#: A frame up to MAX_FRAME, and a step of at least 1, in at most 7 digits (leading zeros too).
_FRAME = (
    r"(?:[0-9]{1,6}|0[0-9]{6}|10[0-3][0-9]{4}|104[0-7][0-9]{3}|1048[0-4][0-9]{2}"
    r"|10485[0-6][0-9]|104857[0-4])"
)
_STEP = "(?:" + "|".join(f"{'0' * n}[1-9][0-9]{{0,{6 - n}}}" for n in range(7)) + ")"
_ITEM = rf" *{_FRAME}(-{_FRAME}(x{_STEP})?)? *"
_ITEM_SYNTAX = r" *[0-9]{1,7}(-[0-9]{1,7}(x[0-9]{1,7})?)? *"
#: The syntax of a frame list (ASCII digits; spaces around items), checked before parse_frames.
FRAMES_SYNTAX = rf"^{_ITEM_SYNTAX}(,{_ITEM_SYNTAX})*$"
#: The frame lists the API takes, as its schema declares them: FRAMES_SYNTAX less what
#: parse_frames refuses by its text (frames past MAX_FRAME, a step of 0). Too many frames, which
#: no pattern says, is the farm's limit (FrameCountError), not a malformed list.
FRAMES_PATTERN = rf"^{_ITEM}(,{_ITEM})*$"


class FrameSpecError(ValueError):
    """The frame text cannot be read; the message says which part and why."""


class FrameCountError(FrameSpecError):
    """The frame text names more frames than ``max_frames``."""


def parse_frames(
    text: str, *, step: int = 1, max_frames: int = MAX_FRAMES_PER_JOB
) -> tuple[int, ...]:
    """Sorted, distinct frames named by ``text``; ``step`` applies to ranges without their own."""
    if step < 1:
        raise FrameSpecError("step must be at least 1")
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise FrameSpecError("empty frame list or empty item between commas")
    ranges = [_parse_item(item, default_step=step) for item in items]
    if sum(len(r) for r in ranges) > max_frames * 4:
        # Many overlapping items could still be few frames, but refuse absurd inputs early.
        raise FrameCountError(f"more than {max_frames} frames")
    frames: set[int] = set()
    for frame_range in ranges:
        frames.update(frame_range)
        if len(frames) > max_frames:
            raise FrameCountError(f"more than {max_frames} frames")
    return tuple(sorted(frames))


def _parse_item(item: str, *, default_step: int) -> range:
    match = _ITEM_RE.match(item)
    if match is None:
        raise FrameSpecError(f"{item!r} is not N, A-B or A-BxS with whole non-negative numbers")
    start = int(match["start"])
    end = int(match["end"]) if match["end"] is not None else start
    item_step = int(match["step"]) if match["step"] is not None else default_step
    if max(start, end) > MAX_FRAME:
        raise FrameSpecError(f"{item!r}: frames go up to {MAX_FRAME}")
    if item_step < 1:
        raise FrameSpecError(f"{item!r}: step must be at least 1")
    if end < start:  # counts down from its start, so "10-1x3" keeps frame 10
        return range(start, end - 1, -item_step)
    return range(start, end + 1, item_step)


def format_frames(frames: Sequence[int]) -> str:
    """Short Blender-syntax text for sorted distinct frames: runs of one step, ``1-9x2`` where
    the step is not 1 (three frames or more, so a lone pair stays ``7,9``)."""
    parts: list[str] = []
    i = 0
    while i < len(frames):
        end = _run_end(frames, i)
        first, last = frames[i], frames[end]
        if end == i:
            parts.append(str(first))
        elif end == i + 1 and last - first != 1:
            parts.append(str(first))  # a pair with a gap: the second may start the next run
            end = i
        else:
            step = frames[i + 1] - first
            parts.append(f"{first}-{last}" if step == 1 else f"{first}-{last}x{step}")
        i = end + 1
    return ",".join(parts)


def _run_end(frames: Sequence[int], start: int) -> int:
    """The index of the last frame in the evenly stepped run that begins at ``start``."""
    if start + 1 >= len(frames):
        return start
    step = frames[start + 1] - frames[start]
    end = start + 1
    while end + 1 < len(frames) and frames[end + 1] - frames[end] == step:
        end += 1
    return end
