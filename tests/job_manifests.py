"""A job's manifest for tests that need one without the API: one scene, a frame list, chunks of
two, and what else a test names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.naming import JobLabel
from renderfarm.jobs.spec import JobRequest

JOB = "0123456789abcdef0123456789abcdef"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def new_manifest(  # noqa: PLR0913 - keyword-only: each a field a test may set
    frames: str = "1-6",
    *,
    chunk_size: int | None = 2,
    job_id: str = JOB,
    tenant: str = "acme",
    created_at: datetime = T0,
    blender: str = "5.3",
    saved_by: str = "5.3",
    label: JobLabel | None = None,
    **request: Any,
) -> JobManifest:
    """A new manifest (not yet enqueued) of ``tenant``'s job; ``request`` adds fields of the
    job's request (its ``scene_sha256`` too)."""
    spec = JobRequest.model_validate(
        {"scene_sha256": "d" * 64, "frames": frames, "chunk_size": chunk_size, **request}
    ).to_spec()
    return JobManifest.new(
        job_id=job_id,
        tenant=tenant,
        spec=spec,
        created_at=created_at,
        fingerprint="f",
        blender=blender,
        scene_saved_by=saved_by,
        blender_pinned=False,
        label=label,
    )
