"""What people find a job by: its name, its tags, and the API key that submitted it.

- A **name** is 1 to 200 characters, none of them a control character (Unicode's Cc: U+0000 to
  U+001F and U+007F to U+009F). By default it is the main .blend's file name and the frames
  (``shot_010.blend 1-250``); a one-file scene uploaded by its hash has no file name the farm
  knows, so it is ``scene <the hash's first 12 hex digits> <frames>``.
- A **tag** is a bare label (``lighting``) or ``key=value`` (``shot=010``): the label or key is 1
  to 64 ASCII letters, digits, ``_``, ``-`` and ``.``, starting with a letter or digit; the value
  is 1 to 128 ASCII letters, digits and ``_ - . : / @ +``. Tags are case-sensitive; a job has at
  most 16, each once (a repeat is dropped).
- **submitted_by** is the id of the API key (renderfarm.keys.api_keys ``ApiKey.key_id``), never
  the key.

The list filters by a name prefix (case-insensitive) and by tags (each must be on the job).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_NAME_LENGTH = 200
MAX_TAGS = 16
MAX_TAG_KEY_LENGTH = 64
MAX_TAG_VALUE_LENGTH = 128
MAX_TAG_LENGTH = MAX_TAG_KEY_LENGTH + 1 + MAX_TAG_VALUE_LENGTH
#: Hex digits of a one-file scene's hash in its default name.
SCENE_HASH_DIGITS = 12
#: The most characters of the frames in a default name (a long list is cut with an ellipsis).
MAX_FRAMES_IN_NAME = 60

#: Any character but a control character (JSON Schema's pattern: ECMA-262, as Python reads it).
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
TAG_KEY_CHARS = rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_TAG_KEY_LENGTH - 1}}}"
TAG_VALUE_CHARS = rf"[A-Za-z0-9_.:/@+-]{{1,{MAX_TAG_VALUE_LENGTH}}}"
TAG_PATTERN = rf"^{TAG_KEY_CHARS}(={TAG_VALUE_CHARS})?$"
TAG_SYNTAX = (
    "a label or key=value: the label or key 1-64 of A-Z a-z 0-9 _ - . starting with a letter or "
    "digit, the value 1-128 of A-Z a-z 0-9 _ - . : / @ +"
)
_TAG = re.compile(TAG_PATTERN)
_ELLIPSIS = "\u2026"


def control_characters(text: str) -> bool:
    return any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in text)


def check_name(value: str) -> str:
    """A job's name, or a name prefix to filter by, as given; ValueError says what is wrong."""
    if not value:
        raise ValueError("a name has at least one character")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"at most {MAX_NAME_LENGTH} characters")
    if control_characters(value):
        raise ValueError("no control characters (U+0000-U+001F, U+007F-U+009F)")
    return value


def check_tag(value: str) -> str:
    if _TAG.fullmatch(value) is None:
        raise ValueError(f"{value[:80]!r} is not a tag: {TAG_SYNTAX}")
    return value


def unique_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """The tags in order, each once."""
    return tuple(dict.fromkeys(tags))


#: The request fields: each states its rule in the OpenAPI document, and checks it in words.
JobName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        json_schema_extra={"pattern": NAME_PATTERN},
        description="at most 200 characters, no control characters",
        examples=["shot_010.blend 1-250"],
    ),
    AfterValidator(check_name),
]
JobTag = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_TAG_LENGTH,
        json_schema_extra={"pattern": TAG_PATTERN},
        description=TAG_SYNTAX,
        examples=["shot=010"],
    ),
    AfterValidator(check_tag),
]
JobTags = Annotated[tuple[JobTag, ...], Field(max_length=MAX_TAGS), AfterValidator(unique_tags)]


def frames_text(frames: Sequence[int]) -> str:
    """Frames as Blender's syntax says them, shortest runs first: ``1-250``, ``1-96x5``,
    ``1-3,10``."""
    ordered = sorted(set(frames))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        first = ordered[i]
        if i + 1 == len(ordered):
            parts.append(str(first))
            break
        step = ordered[i + 1] - first
        j = i + 1
        while j + 1 < len(ordered) and ordered[j + 1] - ordered[j] == step:
            j += 1
        if step == 1 or j - i >= 2:  # a run: two neighbours, or three or more evenly spaced
            last = ordered[j]
            parts.append(f"{first}-{last}" + (f"x{step}" if step != 1 else ""))
            i = j + 1
        else:
            parts.append(str(first))
            i += 1
    return ",".join(parts)


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + _ELLIPSIS


def default_name(*, main: str | None, scene_sha256: str, frames: Sequence[int]) -> str:
    """``<the main .blend's file name> <frames>``; ``scene <hash prefix> <frames>`` for a
    one-file scene. Cut to fit MAX_NAME_LENGTH, never with a control character."""
    shown = _cut(frames_text(frames), MAX_FRAMES_IN_NAME)
    if main is None:
        return f"scene {scene_sha256[:SCENE_HASH_DIGITS]} {shown}"
    file_name = "".join(ch for ch in main.rsplit("/", 1)[-1] if not control_characters(ch))
    return f"{_cut(file_name, MAX_NAME_LENGTH - len(shown) - 1)} {shown}"


@dataclass(frozen=True, kw_only=True)
class JobLabel:
    """A job's name, tags and submitter, as its manifest keeps them."""

    name: str
    tags: tuple[str, ...] = ()
    #: The id of the API key that submitted it (None on jobs from before it was recorded).
    submitted_by: str | None = None

    def relabelled(self, *, name: str | None, tags: Sequence[str] | None) -> JobLabel:
        """With a new name and tags; None keeps what it has."""
        return JobLabel(
            name=self.name if name is None else name,
            tags=self.tags if tags is None else unique_tags(tags),
            submitted_by=self.submitted_by,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tags": list(self.tags), "submitted_by": self.submitted_by}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobLabel:
        by = data.get("submitted_by")
        return cls(
            name=str(data["name"]),
            tags=tuple(str(tag) for tag in data.get("tags") or ()),
            submitted_by=str(by) if by is not None else None,
        )


@dataclass(frozen=True, kw_only=True)
class JobFilter:
    """What the list keeps: jobs whose name starts with ``name_prefix`` (ignoring case) and that
    carry every one of ``tags``."""

    name_prefix: str | None = None
    tags: tuple[str, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return self.name_prefix is None and not self.tags

    def matches(self, name: str, tags: Iterable[str]) -> bool:
        if self.name_prefix is not None and not name.casefold().startswith(
            self.name_prefix.casefold()
        ):
            return False
        return set(self.tags) <= set(tags)


class JobLabelRequest(BaseModel):
    """The body of ``PATCH /api/jobs/{id}``: a new name, new tags, or both; a member absent or
    null keeps what the job has (``tags: []`` takes every tag off)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: JobName | None = None
    tags: JobTags | None = Field(default=None, description="the job's new tags, all of them")
