"""Response shapes (the request shapes are the domain's JobRequest and SceneUpload)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from renderfarm.chunk_record import ChunkState
from renderfarm.cost import CostEstimate
from renderfarm.manifest import EnqueueState, JobManifest
from renderfarm.status import JobState


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


class JobAcceptedPublic(BaseModel):
    job_id: str
    state: JobState
    enqueue_state: EnqueueState
    frames_total: int
    chunk_size: int
    chunk_count: int
    blender: BlenderPublic
    status_url: str


class ChunkPublic(BaseModel):
    index: int
    state: ChunkState
    frames_total: int
    frames_done: int
    attempts: int
    last_error: str | None
    blender_version: str | None = Field(
        description="full version of the Blender that rendered it (bpy.app.version_string)"
    )
    started_at: datetime | None
    finished_at: datetime | None


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
    """An estimate of the job's marginal cost at list prices; see the README for what it
    leaves out."""

    worker_seconds: float = Field(description="pick-up to settle, every chunk and attempt")
    render_seconds: float = Field(description="Blender's time on the frames")
    estimated_usd: float
    usd_per_frame: float | None = Field(description="over the frames rendered; null before one")
    prices_as_of: date = Field(description="the date of the price table")
    prices_version: str
    breakdown: CostBreakdownPublic


class JobStatusPublic(BaseModel):
    job_id: str
    state: JobState
    scene_sha256: str
    priority: int
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


class JobSummaryPublic(BaseModel):
    job_id: str
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
