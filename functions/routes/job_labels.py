"""A job's name and tags, changed after it was submitted: ``PATCH /api/jobs/{job_id}``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from functions.deps import TenantDep
from functions.job_status import status_public
from functions.openapi import answers, link
from functions.routes.jobs import JobId
from functions.schemas import JobStatusPublic
from renderfarm.jobs.naming import JobLabelRequest
from web_deps.services import FrameLinksDep, JobRelabelDep

router = APIRouter(tags=["jobs"])


@router.patch(
    "/jobs/{job_id}",
    response_model=JobStatusPublic,
    responses=answers(
        200,
        links={
            "GetJob": link("job_status", "Read the job's status", job_id="$response.body#/job_id")
        },
        errors={
            400: None,
            404: "No such job for this key's tenant (`job-not-found`)",
            409: "The job kept changing while being relabelled: retry (`concurrent-update`)",
            422: None,
        },
    ),
)
def relabel_job(  # noqa: PLR0913 - a FastAPI route: one parameter per dependency
    *,
    job_id: JobId,
    body: JobLabelRequest,
    request: Request,
    tenant: TenantDep,
    relabeller: JobRelabelDep,
    links: FrameLinksDep,
) -> JobStatusPublic:
    """Rename or retag the job, whatever its state; its status, as ``GET`` answers it without
    frame URLs. The list filters by the new name and tags at once."""
    request.state.job_id = job_id
    manifest, status = relabeller.relabel(job_id, tenant=tenant, name=body.name, tags=body.tags)
    return status_public(links, manifest, status, 0, 0)
