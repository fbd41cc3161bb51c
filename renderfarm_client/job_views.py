"""What the client reads back about jobs: the shapes of the API's job answers as the client's
callers use them, and how each is read from its JSON (a chunk's shape is the wire module's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from renderfarm.wire import ChunkProgress, parse_time

from .quote_view import QuoteView, quote_view


@dataclass(frozen=True, kw_only=True)
class PreviewUrls:
    """Read URLs of the previews the farm built (``previews`` in the job's status)."""

    contact_sheet_url: str
    video_url: str


@dataclass(frozen=True, kw_only=True)
class CostView:
    """``cost`` in the job's status: the farm's estimate at list prices."""

    worker_seconds: float
    render_seconds: float
    estimated_usd: float
    usd_per_frame: float | None
    prices_as_of: str


@dataclass(frozen=True, kw_only=True)
class FileSetView:
    """``files`` in the job's status: the project a job renders."""

    main: str
    files: int
    bytes: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class JobProgress:
    """``GET /api/jobs/{id}``, with every page of frame URLs gathered."""

    job_id: str
    state: str
    frames_total: int
    frames_done: int
    frames_failed: int
    error: str | None
    created_at: datetime
    chunks: tuple[ChunkProgress, ...]
    frame_urls: dict[int, str]
    #: What people call it, its tags, and the id of the API key that submitted it (a farm from
    #: before names says none of them).
    name: str | None = None
    tags: tuple[str, ...] = ()
    submitted_by: str | None = None
    #: The pool (major.minor) and the full versions of the Blenders that rendered it.
    blender: str | None = None
    rendered_by: tuple[str, ...] = ()
    finished_at: datetime | None = None
    #: A farm that builds previews says ``previews`` (null until built); an older one does not.
    farm_builds_previews: bool = False
    previews: PreviewUrls | None = None
    cost: CostView | None = None
    #: What the farm warns of (files rendered without, for one).
    warnings: tuple[str, ...] = ()
    #: The project the job renders; None for a one-file scene.
    files: FileSetView | None = None
    #: A scouted job's scout frames, and its quote once they are in.
    scout_frames: tuple[int, ...] = ()
    quote: QuoteView | None = None
    #: Why its chunks wait without starting: ``budget`` (a spent monthly budget), or None.
    held: str | None = None
    #: How long the farm asks a follower to wait before reading the status again (its
    #: Retry-After); 0 when it asks nothing (the job is over, or an older farm).
    poll_after_s: float = 0.0

    @property
    def is_over(self) -> bool:
        return self.state in {"completed", "failed", "cancelled"}

    @property
    def failed_chunks(self) -> tuple[ChunkProgress, ...]:
        return tuple(chunk for chunk in self.chunks if chunk.state == "failed")


@dataclass(frozen=True, kw_only=True)
class JobLine:
    job_id: str
    state: str
    frames_total: int
    frames_done: int
    frames_failed: int
    created_at: datetime
    name: str | None = None
    tags: tuple[str, ...] = ()
    submitted_by: str | None = None


@dataclass(frozen=True, kw_only=True)
class SubmittedJob:
    job_id: str
    frames_total: int
    chunk_count: int
    chunk_size: int
    name: str | None = None
    tags: tuple[str, ...] = ()
    blender: str | None = None
    scene_saved_by: str | None = None
    status_url: str | None = None
    #: Why chunk_size: the client's, measured from earlier renders, or a default spread.
    chunking_reason: str | None = None
    #: ``POST /api/jobs``'s answer as the API sent it (``renderfarm submit --json`` prints it).
    answer: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _tags(data: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(tag) for tag in data.get("tags") or ())


def _previews(data: dict[str, Any] | None) -> PreviewUrls | None:
    if not data:
        return None
    return PreviewUrls(
        contact_sheet_url=str(data["contact_sheet_url"]), video_url=str(data["video_url"])
    )


def _file_set(data: dict[str, Any] | None) -> FileSetView | None:
    if not data:
        return None
    return FileSetView(
        main=str(data["main"]),
        files=int(data["files"]),
        bytes=int(data["bytes"]),
        sha256=str(data["sha256"]),
    )


def _cost(data: dict[str, Any] | None) -> CostView | None:
    if not data:
        return None
    per_frame = data.get("usd_per_frame")
    return CostView(
        worker_seconds=float(data["worker_seconds"]),
        render_seconds=float(data["render_seconds"]),
        estimated_usd=float(data["estimated_usd"]),
        usd_per_frame=float(per_frame) if per_frame is not None else None,
        prices_as_of=str(data["prices_as_of"]),
    )


def job_progress(
    data: dict[str, Any], frame_urls: dict[int, str], *, poll_after_s: float = 0.0
) -> JobProgress:
    """``GET /api/jobs/{id}``'s answer (its last page), with every page's frame URLs."""
    blender = data.get("blender") or {}
    return JobProgress(
        job_id=data["job_id"],
        state=data["state"],
        frames_total=int(data["frames_total"]),
        frames_done=int(data["frames_done"]),
        frames_failed=int(data["frames_failed"]),
        error=data.get("error"),
        created_at=datetime.fromisoformat(data["created_at"]),
        chunks=tuple(ChunkProgress.from_json(chunk) for chunk in data["chunks"]),
        frame_urls=frame_urls,
        blender=blender.get("pool"),
        rendered_by=tuple(blender.get("rendered_by") or ()),
        finished_at=parse_time(data.get("finished_at")),
        farm_builds_previews="previews" in data,
        previews=_previews(data.get("previews")),
        cost=_cost(data.get("cost")),
        warnings=tuple(str(line) for line in data.get("warnings") or ()),
        files=_file_set(data.get("files")),
        name=data.get("name"),
        tags=_tags(data),
        submitted_by=data.get("submitted_by"),
        scout_frames=tuple(int(frame) for frame in data.get("scout_frames") or ()),
        quote=quote_view(data.get("quote")),
        held=data.get("held"),
        poll_after_s=poll_after_s,
    )


def job_line(item: dict[str, Any]) -> JobLine:
    """One job of ``GET /api/jobs``."""
    return JobLine(
        job_id=item["job_id"],
        state=item["state"],
        frames_total=int(item["frames_total"]),
        frames_done=int(item["frames_done"]),
        frames_failed=int(item["frames_failed"]),
        created_at=datetime.fromisoformat(item["created_at"]),
        name=item.get("name"),
        tags=_tags(item),
        submitted_by=item.get("submitted_by"),
    )


def submitted_job(data: dict[str, Any]) -> SubmittedJob:
    """``POST /api/jobs``'s answer."""
    blender = data.get("blender") or {}
    return SubmittedJob(
        job_id=data["job_id"],
        frames_total=int(data["frames_total"]),
        chunk_count=int(data["chunk_count"]),
        chunk_size=int(data["chunk_size"]),
        name=data.get("name"),
        tags=_tags(data),
        blender=blender.get("pool"),
        scene_saved_by=blender.get("scene_saved_by"),
        status_url=data.get("status_url"),
        chunking_reason=(data.get("chunking") or {}).get("reason"),
        answer=data,
    )
