"""Response shapes (the request shapes are the domain's JobRequest and SceneUpload)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from renderfarm.chunk_record import ChunkState
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
