"""Jobs: submit, read status, list, cancel."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from opentelemetry import propagate
from pydantic import StringConstraints

from functions.deps import CallerDep, TenantDep
from functions.job_status import status_public
from functions.openapi import LOCATION, POLL_AFTER, answers, link
from functions.problems import Problem
from functions.schemas import (
    JobAcceptedPublic,
    JobListPublic,
    JobStatusPublic,
    JobSummaryPublic,
    blender_public,
    chunking_public,
)
from renderfarm.jobs.idempotency import KEY_PATTERN, is_valid_key
from renderfarm.jobs.naming import (
    MAX_NAME_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    NAME_PATTERN,
    TAG_PATTERN,
    TAG_SYNTAX,
    JobFilter,
)
from renderfarm.jobs.spec import JobRequest
from renderfarm.jobs.status import JobState
from renderfarm_azure.telemetry import frames_counter, jobs_counter, tracer
from web_deps.services import (
    FrameLinksDep,
    JobCancelDep,
    JobListingDep,
    JobStatusDep,
    JobSubmissionDep,
)

router = APIRouter(tags=["jobs"])

JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="32 lower-case hex digits")]
MAX_FRAME_URLS = 1000


def _status_url(job_id: str) -> str:
    return f"/api/jobs/{job_id}"


# Only the job's id: the frame page's parameters have defaults, and the official OpenAPI 3.1
# schema takes a link parameter only as a string (a runtime expression or a string constant).
_GET_JOB = link("job_status", "Read the job's status", job_id="$response.body#/job_id")
_CANCEL_JOB = link("cancel_job", "Cancel the job", job_id="$response.body#/job_id")
_NOT_FOUND = "No such job for this key's tenant (`job-not-found`)"
_REPLAYED = {
    "Idempotent-Replayed": {
        "description": "present when the Idempotency-Key named a job submitted before",
        "required": False,
        "schema": {"type": "string", "enum": ["true"]},
    }
}


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobAcceptedPublic,
    responses=answers(
        202,
        headers={**LOCATION, **_REPLAYED},
        links={"GetJob": _GET_JOB, "CancelJob": _CANCEL_JOB},
        errors={
            400: None,
            402: None,
            403: (
                "Past the farm's limits: more frames than a job holds (`farm-limit`, naming "
                "`frames`), a `not_before` more than 30 days ahead (`farm-limit`, naming "
                "`not_before`), or a project the farm does not hold (`project-refused`, with "
                "`path`: too many files or bytes, a path or name too long in UTF-8 bytes, two "
                "paths that differ only by case)"
            ),
            404: (
                "No scene uploaded with `scene_sha256` for this key's tenant (`scene-not-found`), "
                "files of the project never uploaded (`project-file-not-found`, with `path`), a "
                "main file that is not among the files (`main-file-not-found`, with `path`), or "
                "a `render.camera` or `render.scene` no .blend can hold, longer than 63 bytes in "
                "UTF-8 (`name-not-in-scene`)"
            ),
            409: (
                "The job changed while it was being created: retry (`concurrent-update`); no "
                "Blender of this farm may render the scene (`no-blender-pool`, with "
                "`supported_versions`); GPU rendering on a farm without GPU workers "
                "(`no-gpu-workers`)"
            ),
            422: (
                "Invalid input (`validation`); an Idempotency-Key used for another job "
                "(`idempotency-key-reused`); a scene not matching its hash "
                "(`scene-not-usable`) or not a .blend (`scene-not-a-blend`, with `reason`); a "
                "project file not whole or not what its hash says (`project-file-not-usable`, "
                "with `path`)"
            ),
            429: (
                "This key made too many requests (`rate-limited`, with the RateLimit headers), "
                "or the tenant has too many frames waiting (`queued-frames-cap`, with `waiting` "
                "and `cap`)"
            ),
            503: (
                "Blob Storage or Service Bus failed or was slow (`unavailable`), or the job's "
                "chunks could not be queued (`enqueue-failed`: the job is recorded as failed, "
                "see `job_id` and `status_url`)"
            ),
        },
    ),
)
def submit_job(  # noqa: PLR0913 - a FastAPI route: one parameter per dependency and header
    *,
    body: JobRequest,
    request: Request,
    response: Response,
    caller: CallerDep,
    submission: JobSubmissionDep,
    idempotency_key: Annotated[
        str | None,
        # The route checks the pattern itself, to name the header as it is spelled.
        Header(max_length=255, json_schema_extra={"pattern": KEY_PATTERN}),
    ] = None,
) -> JobAcceptedPublic:
    """Validate, plan chunks, write the manifest, send one message per chunk. 202 + Location.

    The same ``Idempotency-Key`` with the same body returns the same job; with another body, 422.
    """
    if idempotency_key is not None and not is_valid_key(idempotency_key):
        raise Problem(
            422,
            "validation",
            "Invalid request",
            "invalid Idempotency-Key",
            extra={
                "errors": [
                    {
                        "field": "Idempotency-Key",
                        "in": "header",
                        "detail": "1 to 255 printable ASCII characters",
                    }
                ]
            },
        )
    tenant = caller.tenant
    with tracer.start_as_current_span("submit_job") as span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        submitted = submission.submit(
            body,
            tenant=tenant,
            idempotency_key=idempotency_key,
            trace_context=carrier,
            submitted_by=caller.key_id,
        )
        manifest = submitted.manifest
        span.set_attribute("renderfarm.job_id", manifest.job_id)
        span.set_attribute("renderfarm.tenant", tenant)
    request.state.job_id = manifest.job_id
    if not submitted.replayed:
        jobs_counter.add(1, {"tenant": tenant})
        frames_counter.add(len(manifest.spec.frames), {"tenant": tenant})
    response.headers["Location"] = _status_url(manifest.job_id)
    if submitted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return JobAcceptedPublic(
        job_id=manifest.job_id,
        name=manifest.label.name,
        tags=list(manifest.label.tags),
        state=JobState.SCOUTING if manifest.spec.scout else JobState.QUEUED,
        enqueue_state=manifest.enqueue_state,
        frames_total=len(manifest.spec.frames),
        chunk_size=manifest.chunk_size,
        chunk_count=len(manifest.chunks),
        chunking=chunking_public(manifest),
        blender=blender_public(manifest),
        status_url=_status_url(manifest.job_id),
    )


@router.get(
    "/jobs/{job_id}",
    response_model=JobStatusPublic,
    responses=answers(
        200,
        headers=POLL_AFTER,
        links={"CancelJob": _CANCEL_JOB},
        errors={404: _NOT_FOUND, 422: None},
    ),
)
def job_status(  # noqa: PLR0913 - a FastAPI route: one parameter per dependency/query parameter
    *,
    job_id: JobId,
    request: Request,
    response: Response,
    tenant: TenantDep,
    statuses: JobStatusDep,
    links: FrameLinksDep,
    frames_offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    frames_limit: Annotated[int, Query(ge=0, le=MAX_FRAME_URLS)] = 100,
) -> JobStatusPublic:
    """State, counts, per-chunk state and read URLs of a page of the frames present."""
    request.state.job_id = job_id
    manifest, status = statuses.status(job_id, tenant=tenant)
    if status.poll_after_s is not None:
        response.headers["Retry-After"] = str(math.ceil(status.poll_after_s))
    return status_public(links, manifest, status, frames_offset, frames_limit)


@router.get(
    "/jobs",
    response_model=JobListPublic,
    responses=answers(
        200,
        links={
            "GetNewestJob": link(
                "job_status", "Read the first job's status", job_id="$response.body#/jobs/0/job_id"
            )
        },
        errors={400: "A cursor this API did not hand out (`invalid-cursor`)", 422: None},
    ),
)
def list_jobs(  # noqa: PLR0913 - a FastAPI route: one parameter per query parameter
    *,
    tenant: TenantDep,
    listing: JobListingDep,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048, pattern=r"^[\x21-\x7e]+$")] = None,
    name: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_NAME_LENGTH,
            pattern=NAME_PATTERN,
            description="only jobs whose name starts with this (ignoring case)",
        ),
    ] = None,
    tag: Annotated[
        list[Annotated[str, StringConstraints(max_length=MAX_TAG_LENGTH, pattern=TAG_PATTERN)]]
        | None,
        Query(
            max_length=MAX_TAGS,
            description=f"only jobs with this tag ({TAG_SYNTAX}); repeated: with every one",
        ),
    ] = None,
) -> JobListPublic:
    """The tenant's jobs, newest first; pass ``next_cursor`` back as ``cursor`` for more.

    A filtered page may hold fewer than ``limit`` jobs, or none, and still have a
    ``next_cursor``: each request looks at a bounded number of jobs.

    Read from chunk records alone, so ``frames_done`` leaves out frames only a listing would
    find (of a chunk that failed or was cancelled part-way); the job's own status
    (``GET /api/jobs/{job_id}``) counts those too.
    """
    matching = JobFilter(name_prefix=name, tags=tuple(tag or ()))
    page = listing.list_jobs(
        tenant=tenant, size=limit, cursor=cursor, state=state, matching=matching
    )
    return JobListPublic(
        jobs=[
            JobSummaryPublic(
                job_id=manifest.job_id,
                name=manifest.label.name,
                tags=list(manifest.label.tags),
                submitted_by=manifest.label.submitted_by,
                state=status.state,
                frames_total=status.frames_total,
                frames_done=status.frames_done,
                frames_failed=status.frames_failed,
                created_at=manifest.created_at,
                status_url=_status_url(manifest.job_id),
            )
            for manifest, status in page.statuses
        ],
        next_cursor=page.cursor,
    )


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=JobStatusPublic,
    responses=answers(
        200,
        links={"GetJob": _GET_JOB},
        errors={
            404: _NOT_FOUND,
            409: "The job kept changing while being cancelled: retry (`concurrent-update`)",
            422: None,
        },
    ),
)
def cancel_job(
    job_id: JobId,
    request: Request,
    tenant: TenantDep,
    canceller: JobCancelDep,
    links: FrameLinksDep,
) -> JobStatusPublic:
    """Cancel the job (again is harmless); workers stop at their next frame."""
    request.state.job_id = job_id
    manifest, status = canceller.cancel(job_id, tenant=tenant)
    return status_public(links, manifest, status, 0, 0)
