"""Approving a scouted job's quote from its page (a form with the session's CSRF token)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from dashboard.deps import FormDep, SignedDep, one
from dashboard.pages import DashboardRoute, NotFoundPage, error_page
from renderfarm.jobs.approval import NotAwaitingApproval
from renderfarm.shared import blob_layout as layout
from web_deps.services import JobApprovalDep

router = APIRouter(route_class=DashboardRoute)


@router.post("/jobs/{job_id}/approve")
def approve(
    request: Request, job_id: str, signed: SignedDep, form: FormDep, approval: JobApprovalDep
) -> Response:
    signed.check_csrf(one(form, "csrf"))
    if not layout.is_job_id(job_id):
        raise NotFoundPage(job_id)
    try:
        approval.approve(job_id, tenant=signed.tenant, trace_context={})
    except NotAwaitingApproval as error:
        return error_page(request, 409, "Not awaiting approval", str(error))
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
