"""A job's status as the API answers it (``GET /api/jobs/{id}``): built here for the jobs routes
and for the job events consumer (functions/events.py), which sends it, trimmed, to webhooks."""

from __future__ import annotations

from functions.quote_schemas import quote_public
from functions.schemas import (
    FileSetPublic,
    FrameUrlPublic,
    JobStatusPublic,
    PreviewsPublic,
    blender_public,
    chunk_public,
    chunking_public,
    cost_public,
)
from renderfarm.jobs.cost import job_cost
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.ports import FrameLinks
from renderfarm.jobs.status import JobStatus
from renderfarm.shared import blob_layout as layout


def status_public(
    links: FrameLinks, manifest: JobManifest, status: JobStatus, offset: int, limit: int
) -> JobStatusPublic:
    page = status.frames_present[offset : offset + limit]
    urls: list[FrameUrlPublic] = []
    expiry = None
    for frame in page:
        link = links.read_link(layout.frame_blob(manifest.job_id, frame, manifest.output_extension))
        urls.append(FrameUrlPublic(frame=frame, url=link.url))
        expiry = link.expires_at
    more = offset + limit < len(status.frames_present)
    label = manifest.label
    return JobStatusPublic(
        job_id=status.job_id,
        name=label.name,
        tags=list(label.tags),
        submitted_by=label.submitted_by,
        state=status.state,
        scene_sha256=manifest.spec.scene_sha256,
        priority=manifest.spec.priority,
        priority_band=manifest.spec.band,
        device=manifest.spec.render.device,
        blender=blender_public(manifest, status.blender_versions),
        frames_total=status.frames_total,
        frames_done=status.frames_done,
        frames_failed=status.frames_failed,
        created_at=status.created_at,
        started_at=status.started_at,
        finished_at=status.finished_at,
        cancelled_at=status.cancelled_at,
        error=status.error,
        chunks=[chunk_public(chunk) for chunk in status.chunks],
        frame_urls=urls,
        frame_urls_next_offset=offset + limit if more else None,
        frame_urls_expire_at=expiry,
        previews=_previews_public(links, manifest),
        cost=cost_public(job_cost(status)),
        chunking=chunking_public(manifest),
        files=_files_public(manifest),
        warnings=list(status.warnings),
        scout_frames=list(manifest.spec.scout),
        scout_chunks=[chunk_public(chunk) for chunk in status.scout_chunks],
        quote=quote_public(manifest, status),
        held="budget" if status.held == "budget" else None,
    )


def _files_public(manifest: JobManifest) -> FileSetPublic | None:
    ref = manifest.spec.file_set
    if ref is None:
        return None
    return FileSetPublic(main=ref.main, files=ref.files, bytes=ref.bytes, sha256=ref.sha256)


def _previews_public(links: FrameLinks, manifest: JobManifest) -> PreviewsPublic | None:
    """Read URLs of the previews, once the manifest says they are built (no listing)."""
    if manifest.previews_at is None:
        return None
    sheet = links.read_link(layout.contact_sheet_blob(manifest.job_id))
    video = links.read_link(layout.preview_video_blob(manifest.job_id))
    return PreviewsPublic(
        contact_sheet_url=sheet.url, video_url=video.url, expires_at=sheet.expires_at
    )
