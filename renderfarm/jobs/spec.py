"""A render job as the client asks for it, validated field by field, and the spec it becomes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from renderfarm.chunks.order import ChunkOrder
from renderfarm.jobs import scout_request as scouting
from renderfarm.jobs.naming import JobLabel, JobName, JobTags, default_name
from renderfarm.jobs.render_request import (
    MAX_CHUNK_SIZE,
    RenderSettingsIn,
    json_integer,
    render_settings_from_dict,
)
from renderfarm.projects.file_set import FileSet, FileSetIn, FileSetRef
from renderfarm.shared.errors import TooManyFrames
from renderfarm.shared.frames import (
    FRAMES_PATTERN,
    FRAMES_SYNTAX,
    MAX_FRAMES_PER_JOB,
    FrameCountError,
    FrameSpecError,
    parse_frames,
)
from renderfarm.shared.priority import (
    BAND_PRIORITY,
    DEFAULT_PRIORITY,
    MAX_PRIORITY,
    MIN_PRIORITY,
    Band,
    band_of,
)
from renderfarm.shared.render_settings import Device, RenderSettings, render_settings_to_dict

#: Members added since jobs were first submitted, with the value that means what a request
#: without them meant: left out of the fingerprint, so a retry from before them replays.
_ABSENT_MEANS_AS_BEFORE: tuple[tuple[str, Any], ...] = (
    ("name", None),
    ("tags", []),
    ("order", "preview_first"),
    ("scout", None),
    ("approve_below_usd", None),
)


#: _one_scene and _missing_allowed, as JSON Schema states them: a scene or a project, not both;
#: files.missing only with allow_missing. (if/then/else: generated clients read oneOf as a union.)
_ONE_SCENE: JsonDict = {
    "if": {"required": ["files"], "properties": {"files": {"type": "object"}}},
    "then": {
        "properties": {"scene_sha256": {"type": "null"}},
        "if": {
            "properties": {
                "files": {"required": ["missing"], "properties": {"missing": {"minItems": 1}}}
            }
        },
        "then": {"required": ["allow_missing"], "properties": {"allow_missing": {"const": True}}},
    },
    "else": {"required": ["scene_sha256"], "properties": {"scene_sha256": {"type": "string"}}},
}


class JobRequest(BaseModel):
    """The body of ``POST /api/jobs``."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={**_ONE_SCENE, **scouting.SCOUT_SCHEMA}
    )

    files: FileSetIn | None = Field(
        default=None,
        description=(
            "a project: its main .blend and every file it needs, each uploaded with "
            "POST /api/files/missing (instead of scene_sha256)"
        ),
    )
    allow_missing: StrictBool = Field(
        default=False,
        description=(
            "render even when files the scene uses are missing: the job's status then warns "
            "of each one; without it such a chunk fails, naming them"
        ),
    )
    # After files, so that its validator sees them.
    scene_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        validate_default=True,
        description="sha256 of a .blend uploaded with POST /api/scenes: a one-file scene",
    )
    # step comes before frames so that the frames validator sees it.
    step: int = Field(default=1, ge=1, le=100_000, description="step for ranges without 'xS'")
    frames: str = Field(
        min_length=1,
        max_length=10_000,
        pattern=FRAMES_SYNTAX,  # the rest of FRAMES_PATTERN: parse_frames, in words
        json_schema_extra={"pattern": FRAMES_PATTERN},
        description="Blender syntax: '1-250', '1-10,20,30-40', '1-100x5'; '10-1' runs backwards",
        examples=["1-250"],
    )
    render: RenderSettingsIn = Field(default_factory=RenderSettingsIn)
    chunk_size: int | None = Field(
        default=None, ge=1, le=MAX_CHUNK_SIZE, description="frames per chunk; planned when absent"
    )
    priority: Annotated[int, Field(ge=MIN_PRIORITY, le=MAX_PRIORITY)] | Band = Field(
        default=DEFAULT_PRIORITY,
        description=(
            "0..9 or a band: 0-3 low, 4-6 normal, 7-9 high; each band has its own queue and "
            "workers take from the highest first. A band's name stands for 2, 5 or 8"
        ),
        examples=["high", 5],
    )
    blender: str | None = Field(
        default=None,
        # BlenderVersion.parse's syntax: "05.3" was a 500.
        pattern=r"^(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)$",
        description=(
            "Blender version (major.minor) to render with; by default the oldest the farm runs "
            "that is not older than the Blender that saved the scene"
        ),
        examples=["5.3"],
    )
    not_before: AwareDatetime | None = Field(
        default=None,
        description=(
            "RFC 3339 time before which no chunk renders (at most 30 days ahead): the job "
            "shows 'scheduled' until then; a time already past renders now"
        ),
        examples=["2026-12-24T22:00:00Z"],
    )
    order: ChunkOrder = Field(
        default=ChunkOrder.PREVIEW_FIRST,
        description=(
            "the order chunks are sent in: preview_first sends the first, last and middle "
            "chunks first, then the middles of the gaps, halving each time, so the whole shot "
            "shows early; sequential keeps file order. Chunk numbers follow the frames either way"
        ),
    )
    name: JobName | None = Field(
        default=None,
        description=(
            "what people call the job, at most 200 characters and no control characters; by "
            "default the main .blend's file name and the frames ('shot_010.blend 1-250'), or "
            "'scene <hash prefix> <frames>' for a one-file scene"
        ),
        examples=["shot_010 lighting pass"],
    )
    tags: JobTags = Field(
        default=(),
        description=(
            "up to 16 labels ('lighting') or key=value pairs ('shot=010') to find the job by "
            "(GET /api/jobs?tag=...); case-sensitive, a repeat is dropped"
        ),
        examples=[["project=forest", "shot=010", "lighting"]],
    )
    scout: scouting.ScoutAsked = scouting.scout_field()
    approve_below_usd: scouting.UsdAmount | None = scouting.approve_below_field()

    _integers = field_validator("step", "chunk_size", mode="before")(json_integer)

    @field_validator("scout")
    @classmethod
    def _scout_among_frames(cls, value: scouting.ScoutAsked, info: ValidationInfo) -> Any:
        return scouting.scout_among_frames(value, info.data)

    @field_validator("approve_below_usd")
    @classmethod
    def _scouted_to_approve(cls, value: float | None, info: ValidationInfo) -> float | None:
        return scouting.scouted_to_approve(value, info.data)

    @field_validator("not_before", mode="before")
    @classmethod
    def _rfc_3339_text(cls, value: Any) -> Any:
        """A JSON string: pydantic would read the number 12 as a Unix time in 1970."""
        if value is not None and not isinstance(value, str | datetime):
            raise PydanticCustomError("datetime_type", "Input should be an RFC 3339 time")
        return value

    @field_validator("scene_sha256")
    @classmethod
    def _one_scene(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "files" not in info.data:
            return value  # files itself is invalid and already reported
        if (value is None) == (info.data["files"] is None):
            raise ValueError("give either scene_sha256 (one .blend) or files (a project)")
        return value

    @model_validator(mode="after")
    def _missing_allowed(self) -> Self:
        if self.files is not None and self.files.missing and not self.allow_missing:
            raise ValueError(
                "files.missing names files the scene needs: submit them, or set allow_missing"
            )
        return self

    @field_validator("priority", mode="before")
    @classmethod
    def _priority_or_band(cls, value: Any) -> Any:
        """An integer 0..9 or a band's name, and nothing pydantic would coerce into either
        (true, "5"): one error on ``priority`` whatever is wrong."""
        if isinstance(value, str):
            if value not in {band.value for band in Band}:
                raise PydanticCustomError(
                    "priority", "Input should be 0..9 or one of 'low', 'normal', 'high'"
                )
            return Band(value)
        json_integer(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or not MIN_PRIORITY <= value <= MAX_PRIORITY:
            raise PydanticCustomError(
                "priority", "Input should be 0..9 or one of 'low', 'normal', 'high'"
            )
        return value

    @field_validator("frames")
    @classmethod
    def _frames_parse(cls, value: str, info: ValidationInfo) -> str:
        step = info.data.get("step")
        if step is None:
            return value  # step itself is invalid and already reported
        try:
            parse_frames(value, step=step, max_frames=MAX_FRAMES_PER_JOB)
        except FrameCountError as error:
            raise TooManyFrames(str(error)) from None  # the farm's limit: a 403, not a 422
        except FrameSpecError as error:
            raise ValueError(str(error)) from error
        return value

    def file_set(self) -> FileSet | None:
        return self.files.to_domain() if self.files is not None else None

    def to_spec(self) -> JobSpec:
        file_set = self.file_set()
        scene = file_set.main_entry.sha256 if file_set is not None else self.scene_sha256
        assert scene is not None, "checked by _one_scene"
        frames = parse_frames(self.frames, step=self.step)
        return JobSpec(
            scene_sha256=scene,
            file_set=file_set.ref() if file_set is not None else None,
            allow_missing=self.allow_missing,
            frames=frames,
            render=self.render.to_domain(),
            chunk_size=self.chunk_size,
            priority=self.priority_number,
            not_before=self.not_before,
            order=self.order,
            **scouting.scouting(self.scout, self.approve_below_usd, frames),
        )

    @property
    def priority_number(self) -> int:
        """The priority as 0..9: a band's name stands for the middle of its range."""
        return BAND_PRIORITY[self.priority] if isinstance(self.priority, Band) else self.priority

    def label(self, spec: JobSpec, *, submitted_by: str | None) -> JobLabel:
        """The job's name (given, else its default), tags and submitter."""
        main = self.files.main if self.files is not None else None
        name = self.name or default_name(
            main=main, scene_sha256=spec.scene_sha256, frames=spec.frames
        )
        return JobLabel(name=name, tags=self.tags, submitted_by=submitted_by)

    def fingerprint(self) -> str:
        """A hash of the request's meaning, to tell an idempotent retry from a reused key."""
        meaning = self.model_dump(mode="json")
        for member, absent in _ABSENT_MEANS_AS_BEFORE:
            if meaning.get(member) == absent:
                del meaning[member]
        canonical = json.dumps(meaning, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """A validated job: which scene, which frames, how to render them."""

    #: The .blend to render: the one-file scene, or a file set's main file.
    scene_sha256: str
    frames: tuple[int, ...]
    render: RenderSettings
    chunk_size: int | None
    priority: int
    not_before: datetime | None = None
    #: The project the scene is part of (None: a one-file scene from POST /api/scenes).
    file_set: FileSetRef | None = None
    allow_missing: bool = False
    #: The order its chunks are sent in; jobs from before it was asked were sent in file order.
    order: ChunkOrder = ChunkOrder.SEQUENTIAL
    #: Frames rendered first, to quote the job (renderfarm.jobs.scouting); () for none.
    scout: tuple[int, ...] = ()
    approve_below_usd: float | None = None

    @property
    def band(self) -> Band:
        """The priority band, whose queue the job's chunks wait in."""
        return band_of(self.priority)

    @property
    def gpu(self) -> bool:
        return self.render.device is Device.GPU

    def to_dict(self) -> dict[str, Any]:
        return {
            "scene_sha256": self.scene_sha256,
            "frames": list(self.frames),
            "render": render_settings_to_dict(self.render),
            "chunk_size": self.chunk_size,
            "priority": self.priority,
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "file_set": self.file_set.to_dict() if self.file_set else None,
            "allow_missing": self.allow_missing,
            "order": self.order.value,
            "scout": list(self.scout),
            "approve_below_usd": self.approve_below_usd,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        return cls(
            scene_sha256=data["scene_sha256"],
            frames=tuple(int(f) for f in data["frames"]),
            render=render_settings_from_dict(data["render"]),
            chunk_size=data["chunk_size"],
            priority=data["priority"],
            not_before=datetime.fromisoformat(data["not_before"])
            if data.get("not_before")
            else None,
            file_set=FileSetRef.from_dict(data["file_set"]) if data.get("file_set") else None,
            allow_missing=bool(data.get("allow_missing", False)),
            order=ChunkOrder(data.get("order", ChunkOrder.SEQUENTIAL)),
            scout=tuple(int(f) for f in data.get("scout", ())),
            approve_below_usd=data.get("approve_below_usd"),
        )
