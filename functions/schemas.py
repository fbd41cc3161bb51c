"""Response shapes (the request shapes are the domain's JobRequest and SceneUpload)."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from functions.quote_schemas import QuotePublic
from renderfarm.chunks.plan import PlanSource
from renderfarm.jobs.cost import CostEstimate
from renderfarm.jobs.manifest import EnqueueState, JobManifest
from renderfarm.jobs.render_request import json_integer
from renderfarm.jobs.status import ChunkStatus, JobState
from renderfarm.projects.file_set import MAX_FILE_BYTES, MAX_HASHES_PER_CALL, SHA256_PATTERN
from renderfarm.shared.blend_header import HeaderProblem
from renderfarm.shared.priority import Band
from renderfarm.shared.render_settings import Device
from renderfarm.wire import ChunkProgress


def _absent_not_null(schema: dict[str, Any]) -> None:
    """An optional member is left out of the answer, never sent as null: say only its type."""
    for member in schema.get("properties", {}).values():
        if "default" in member and member["default"] is None:
            del member["default"]


class ProblemErrorPublic(BaseModel):
    """One input an error answer blames."""

    model_config = ConfigDict(populate_by_name=True)

    field: str = Field(
        description="the field's dotted path (render.samples), a parameter's or a header's name"
    )
    in_: Literal["body", "path", "query", "header", "cookie"] = Field(alias="in")
    detail: str = Field(description="what is wrong with it")


class BudgetStatePublic(BaseModel):
    """A monthly budget and what its scope has spent this month (renderfarm.billing.budgets)."""

    scope: str = Field(description="'tenant', or 'tag:<tag>' for a tag's budget")
    tag: str | None = Field(description="the tag whose jobs the budget counts; null: all jobs")
    monthly_usd: float = Field(ge=0)
    spent_usd: float = Field(ge=0)
    month: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}$", examples=["2026-12"])
    resets_at: str = Field(description="RFC 3339: the first of the next month, 00:00 UTC")


class ProblemPublic(BaseModel):
    """An error answer: RFC 9457 problem details, sent as application/problem+json.

    ``type`` names the kind of problem; the members after ``instance`` are extensions that only
    some kinds carry. Clients should ignore members they do not know.
    """

    model_config = ConfigDict(populate_by_name=True, json_schema_extra=_absent_not_null)

    type: str = Field(
        pattern=r"^(about:blank|urn:renderfarm:problem:[a-z0-9-]+)$",
        description="urn:renderfarm:problem:<kind>, or about:blank when the status says it all",
        examples=["urn:renderfarm:problem:validation"],
    )
    title: str = Field(description="a short summary of the kind, the same for every instance")
    status: int = Field(ge=400, le=599, description="the HTTP status, repeated")
    detail: str | SkipJsonSchema[None] = Field(
        default=None, description="what went wrong with this request"
    )
    instance: str = Field(description="the path of the request")
    errors: list[ProblemErrorPublic] | SkipJsonSchema[None] = Field(
        default=None, description="each input at fault (400 and 422 answers)"
    )
    reason: HeaderProblem | SkipJsonSchema[None] = Field(
        default=None, description="scene-not-a-blend: why the scene's header could not be read"
    )
    supported_versions: list[str] | SkipJsonSchema[None] = Field(
        default=None,
        description="no-blender-pool: the Blender versions (major.minor) this farm runs",
    )
    waiting: int | SkipJsonSchema[None] = Field(
        default=None, ge=0, description="queued-frames-cap: the tenant's frames waiting now"
    )
    cap: int | SkipJsonSchema[None] = Field(
        default=None,
        ge=1,
        description="queued-frames-cap: the most frames a tenant may have waiting",
    )
    limit: int | SkipJsonSchema[None] = Field(
        default=None, ge=1, description="too-many-webhooks: the most webhooks a tenant may have"
    )
    job_id: str | SkipJsonSchema[None] = Field(
        default=None, description="enqueue-failed: the job, recorded as failed"
    )
    status_url: str | SkipJsonSchema[None] = Field(
        default=None, description="enqueue-failed: where the failed job's status can be read"
    )
    path: str | SkipJsonSchema[None] = Field(
        default=None,
        description="project-file-not-found, project-file-not-usable, project-refused, "
        "main-file-not-found: the file's"
        " path in the project, the user's own name for it",
    )
    budget: BudgetStatePublic | SkipJsonSchema[None] = Field(
        default=None,
        description="budget-exhausted: the spent budget, what it has spent and when it resets",
    )
    state: JobState | SkipJsonSchema[None] = Field(
        default=None, description="job-not-ended, not-awaiting-approval: the job's state now"
    )


class ValidationProblemPublic(ProblemPublic):
    """A problem with the request's input: ``errors`` names every field at fault."""

    errors: list[ProblemErrorPublic] = Field(min_length=1, description="each input at fault")


class HealthPublic(BaseModel):
    status: str
    blob_storage: str
    service_bus: str


class SceneTicketPublic(BaseModel):
    sha256: str
    exists: bool
    upload_url: str | None = None
    upload_method: str | None = None
    upload_headers: dict[str, str] | None = None
    expires_at: datetime | None = None


class FileWanted(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=SHA256_PATTERN, description="sha256 of the file, lower-case")
    size: int = Field(ge=0, le=MAX_FILE_BYTES, description="its size in bytes")

    _integers = field_validator("size", mode="before")(json_integer)


class FilesMissingIn(BaseModel):
    """The body of ``POST /api/files/missing``: files a project needs, by hash and size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: list[FileWanted] = Field(min_length=1, max_length=MAX_HASHES_PER_CALL)


class FileUploadPublic(BaseModel):
    sha256: str
    upload_url: str


class FilesMissingPublic(BaseModel):
    """Which of the files the farm lacks, each with a short-lived URL to PUT it to."""

    missing: list[FileUploadPublic]
    present: int = Field(description="how many of the files asked about the farm has already")
    upload_method: str = "PUT"
    upload_headers: dict[str, str] = Field(default_factory=lambda: {"x-ms-blob-type": "BlockBlob"})
    expires_at: datetime | None = Field(description="when the upload URLs stop working")


class BlenderPublic(BaseModel):
    """Which Blender a job renders with and why."""

    pool: str = Field(description="the pool (major.minor) the job's chunks are queued for")
    pinned: bool = Field(description="the client asked for this version (else the farm chose)")
    scene_saved_by: str | None = Field(
        description="major.minor of the Blender that saved the scene, from its header"
    )
    rendered_by: list[str] = Field(
        default_factory=list,
        description="full versions of the Blenders that rendered its chunks so far",
    )


class ChunkingPublic(BaseModel):
    """How the job's chunk size was chosen (renderfarm.chunks.plan)."""

    size: int
    source: PlanSource = Field(
        description="client: the request's chunk_size; measured: from earlier renders of the "
        "scene with the same settings; default: nothing measured yet"
    )
    reason: str = Field(description="one sentence: the size and what it came from")
    seconds_per_frame: float | None = Field(
        default=None, description="the measured Blender seconds per frame the plan used"
    )


def chunking_public(manifest: JobManifest) -> ChunkingPublic | None:
    plan = manifest.chunking
    return None if plan is None else ChunkingPublic.model_validate(plan.to_dict())


_NAME = "what people call the job: the request's name, else its default"
_TAGS = "the job's tags, in the order given"
_SUBMITTED_BY = (
    "the id of the API key that submitted the job, never the key (null on jobs from before "
    "it was recorded)"
)


class JobAcceptedPublic(BaseModel):
    job_id: str
    name: str = Field(description=_NAME)
    tags: list[str] = Field(description=_TAGS)
    state: JobState
    enqueue_state: EnqueueState
    frames_total: int
    chunk_size: int
    chunk_count: int
    chunking: ChunkingPublic | None = Field(
        default=None, description="why chunk_size (null on jobs from before it was recorded)"
    )
    blender: BlenderPublic
    status_url: str


#: A chunk's status on the wire is written once, in the stdlib module renderfarm/wire.py that the
#: client reads it with too (the add-on runs it in Blender's Python): add a chunk field there, and
#: to the domain's ChunkStatus.
ChunkPublic = ChunkProgress


def chunk_public(chunk: ChunkStatus) -> ChunkPublic:
    """The wire's chunk from the domain's: every wire field copied by name."""
    values = {member.name: getattr(chunk, member.name) for member in fields(ChunkPublic)}
    return ChunkPublic(**{**values, "state": chunk.state.value})


class FrameUrlPublic(BaseModel):
    frame: int
    url: str


class PreviewsPublic(BaseModel):
    """Read URLs of the previews the farm builds when a job completes."""

    contact_sheet_url: str = Field(description="PNG: every frame as a labelled tile")
    video_url: str = Field(description="MP4: H.264 at 24 fps, one video frame per frame")
    expires_at: datetime


class CostBreakdownPublic(BaseModel):
    compute_usd: float = Field(description="worker replicas: vCPU-seconds and GiB-seconds")
    service_bus_usd: float = Field(description="sends, receives, settlements, lock renewals")
    blob_operations_usd: float = Field(description="write, read and list transactions")
    storage_usd: float = Field(description="the frames' bytes, stored for one month")


class CostPublic(BaseModel):
    """An estimate of the job's marginal cost at list prices; what it leaves out:
    docs/cost-and-speed.md "What it leaves out"."""

    worker_seconds: float = Field(description="pick-up to settle, every chunk and attempt")
    render_seconds: float = Field(description="Blender's time on the frames")
    estimated_usd: float
    usd_per_frame: float | None = Field(description="over the frames rendered; null before one")
    prices_as_of: date = Field(description="the date of the price table")
    prices_version: str
    breakdown: CostBreakdownPublic


class FileSetPublic(BaseModel):
    """The project a job renders (null on a one-file scene)."""

    main: str = Field(description="the .blend rendered, by its path in the project")
    files: int
    bytes: int
    sha256: str = Field(description="sha256 of the file set's canonical JSON")


class JobStatusPublic(BaseModel):
    job_id: str
    name: str = Field(description=_NAME)
    tags: list[str] = Field(description=_TAGS)
    submitted_by: str | None = Field(description=_SUBMITTED_BY)
    state: JobState
    scene_sha256: str
    priority: int
    priority_band: Band = Field(description="0-3 low, 4-6 normal, 7-9 high: its queue")
    device: Device = Field(description="render.device: CPU, or GPU (GPU workers)")
    blender: BlenderPublic
    frames_total: int
    frames_done: int
    frames_failed: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None
    error: str | None
    chunks: list[ChunkPublic]
    frame_urls: list[FrameUrlPublic]
    frame_urls_next_offset: int | None
    frame_urls_expire_at: datetime | None
    previews: PreviewsPublic | None = Field(
        default=None, description="null until the farm has built them, after completion"
    )
    cost: CostPublic | None = Field(
        default=None, description="null until a worker has recorded time on a chunk"
    )
    chunking: ChunkingPublic | None = Field(
        default=None, description="the chunk size and why (null on jobs from before it was)"
    )
    files: FileSetPublic | None = Field(
        default=None, description="the project rendered; null for a one-file scene"
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="what the user should know, such as each file rendered without "
        "(allow_missing), named by its path in the project",
    )
    scout_frames: list[int] = Field(
        default_factory=list, description="frames rendered first to quote the job (scout)"
    )
    scout_chunks: list[ChunkPublic] = Field(
        default_factory=list,
        description="a scouted job's scout chunks, one frame each, numbered after `chunks`",
    )
    quote: QuotePublic | None = Field(
        default=None, description="a scouted job's quote, once its scout frames are in"
    )
    held: Literal["budget"] | None = Field(
        default=None,
        description="why chunks of the job wait without starting: `budget`, a spent monthly "
        "budget of its tenant or of one of its tags (released when the budget is raised or "
        "the month turns over); null when nothing holds it",
    )


class JobSummaryPublic(BaseModel):
    job_id: str
    name: str = Field(description=_NAME)
    tags: list[str] = Field(description=_TAGS)
    submitted_by: str | None = Field(description=_SUBMITTED_BY)
    state: JobState
    frames_total: int
    frames_done: int
    frames_failed: int
    created_at: datetime
    status_url: str


class JobListPublic(BaseModel):
    jobs: list[JobSummaryPublic]
    next_cursor: str | None


def blender_public(manifest: JobManifest, rendered_by: tuple[str, ...] = ()) -> BlenderPublic:
    return BlenderPublic(
        pool=manifest.blender,
        pinned=manifest.blender_pinned,
        scene_saved_by=manifest.scene_saved_by,
        rendered_by=list(rendered_by),
    )


def cost_public(estimate: CostEstimate | None) -> CostPublic | None:
    if estimate is None:
        return None
    return CostPublic(
        worker_seconds=round(estimate.worker_seconds, 3),
        render_seconds=round(estimate.render_seconds, 3),
        estimated_usd=estimate.estimated_usd,
        usd_per_frame=estimate.usd_per_frame,
        prices_as_of=estimate.prices_as_of,
        prices_version=estimate.prices_version,
        breakdown=CostBreakdownPublic(
            compute_usd=estimate.compute_usd,
            service_bus_usd=estimate.bus_usd,
            blob_operations_usd=estimate.blob_operations_usd,
            storage_usd=estimate.storage_usd,
        ),
    )
