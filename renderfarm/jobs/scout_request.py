"""What ``POST /api/jobs`` takes to scout a job first: ``scout`` and ``approve_below_usd``, their
rules, and the spec's scout frames they become (JobRequest in renderfarm.jobs.spec uses these)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictBool
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from renderfarm.jobs.quote import MAX_SCOUT_FRAMES, default_scout_frames
from renderfarm.shared.frames import MAX_FRAME, FrameSpecError, parse_frames

#: The most a job's approve_below_usd may say.
MAX_APPROVE_BELOW_USD = 1_000_000


def _json_number(value: Any) -> Any:
    """A JSON number, not true or "5", which pydantic would otherwise read as 1 and 5."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("number_type", "Input should be a valid number")
    return value


def _scout_shape(value: Any) -> Any:
    """One error on ``scout`` whatever is wrong with its shape (pydantic would name each
    member of the union it tried)."""
    if value is None or isinstance(value, bool):
        return value
    frames = value if isinstance(value, list) else None
    if frames is None or not 1 <= len(frames) <= MAX_SCOUT_FRAMES:
        raise PydanticCustomError(
            "scout", f"Input should be true, false or a list of 1 to {MAX_SCOUT_FRAMES} frames"
        )
    for frame in frames:
        if isinstance(frame, float) and frame.is_integer():
            frame = int(frame)  # noqa: PLW2901 - JSON Schema's integer: 5.0 is 5
        if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame <= MAX_FRAME:
            raise PydanticCustomError("scout", f"a scout frame is a whole number 0..{MAX_FRAME}")
    return [int(frame) for frame in frames]


ScoutFrame = Annotated[int, Field(ge=0, le=MAX_FRAME)]
ScoutAsked = Annotated[
    StrictBool
    | Annotated[list[ScoutFrame], Field(min_length=1, max_length=MAX_SCOUT_FRAMES)]
    | None,
    BeforeValidator(_scout_shape),
]
UsdAmount = Annotated[float, Field(gt=0, le=MAX_APPROVE_BELOW_USD), BeforeValidator(_json_number)]

#: _scouted_to_approve, as JSON Schema states it (in the request's allOf): approve_below_usd
#: needs scout frames, so it refuses scout: false.
SCOUT_SCHEMA: JsonDict = {
    "allOf": [
        {
            "if": {
                "required": ["approve_below_usd"],
                "properties": {"approve_below_usd": {"type": "number"}},
            },
            "then": {"properties": {"scout": {"not": {"const": False}}}},
        }
    ]
}


def scout_field() -> Any:
    return Field(
        default=None,
        description=(
            "render these frames first (true: the first, the middle and the last of the job's), "
            "then wait in awaiting_approval with a quote; at most "
            f"{MAX_SCOUT_FRAMES} frames, each one of the job's"
        ),
        examples=[True, [1, 50, 100]],
    )


def approve_below_field() -> Any:
    return Field(
        default=None,
        description=(
            "approve the job without asking when its quote is under this many USD; the job is "
            "scouted (the first, middle and last frames unless scout lists them)"
        ),
        examples=[2.5],
    )


def scout_among_frames(scout: ScoutAsked, data: Mapping[str, Any]) -> ScoutAsked:
    """A listed scout frame must be one of the job's (``data``: the request's fields before
    ``scout``, frames and step among them unless they were invalid)."""
    if not isinstance(scout, list) or "frames" not in data or "step" not in data:
        return scout  # true, false or null; or the frames, invalid, are reported already
    try:
        frames = set(parse_frames(data["frames"], step=data["step"]))
    except FrameSpecError:
        return scout
    outside = sorted(set(scout) - frames)
    if outside:
        raise ValueError(f"scout frame {outside[0]} is not one of the job's frames")
    return scout


def scouted_to_approve(approve_below_usd: float | None, data: Mapping[str, Any]) -> float | None:
    """approve_below_usd needs scout frames (``data``: the request's fields before it)."""
    if approve_below_usd is not None and data.get("scout") is False:
        raise ValueError("approve_below_usd needs scout frames: leave out scout: false")
    return approve_below_usd


def scouting(
    scout: ScoutAsked, approve_below_usd: float | None, frames: tuple[int, ...]
) -> dict[str, Any]:
    """The spec's ``scout`` frames (sorted, each once) and ``approve_below_usd``."""
    if isinstance(scout, list):
        chosen = tuple(sorted(set(scout)))
    elif scout or approve_below_usd is not None:
        chosen = default_scout_frames(frames)
    else:
        chosen = ()
    return {"scout": chosen, "approve_below_usd": approve_below_usd if chosen else None}
