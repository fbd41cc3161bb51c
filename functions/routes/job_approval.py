"""Approving a scouted job's quote: the rest of the job renders."""

from __future__ import annotations

from fastapi import APIRouter, Request
from opentelemetry import propagate

from functions.deps import TenantDep
from functions.job_status import status_public
from functions.openapi import answers, link
from functions.routes.jobs import JobId
from functions.schemas import JobStatusPublic
from web_deps.services import FrameLinksDep, JobApprovalDep

router = APIRouter(tags=["jobs"])

_GET_JOB = link("job_status", "Read the job's status", job_id="$response.body#/job_id")


@router.post(
    "/jobs/{job_id}/approve",
    response_model=JobStatusPublic,
    responses=answers(
        200,
        links={"GetJob": _GET_JOB},
        errors={
            404: "No such job for this key's tenant (`job-not-found`)",
            409: (
                "The job is not awaiting approval: not scouted, still scouting, or over "
                "(`not-awaiting-approval`, with its `state`); or it kept changing while being "
                "approved: retry (`concurrent-update`)"
            ),
            422: None,
        },
    ),
)
def approve_job(
    job_id: JobId,
    request: Request,
    tenant: TenantDep,
    approval: JobApprovalDep,
    links: FrameLinksDep,
) -> JobStatusPublic:
    """Approve the job's quote: its planned chunks are queued (the scout frames are not
    rendered again). Approving again is harmless; cancel rejects the quote instead."""
    request.state.job_id = job_id
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    manifest, status = approval.approve(job_id, tenant=tenant, trace_context=carrier)
    return status_public(links, manifest, status, 0, 0)
