"""Retrying a failed or cancelled job from its page: a confirmation, then a form posted with the
session's CSRF token (renderfarm.jobs.retry does the work, as for the API)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from dashboard import views
from dashboard.deps import FormDep, SignedDep, one
from dashboard.pages import DashboardRoute, NotFoundPage, error_page, now, page
from renderfarm.jobs.retry import JobNotEnded, chunks_to_retry
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.errors import ConcurrentUpdate, QueuedFramesCapExceeded
from web_deps.services import JobRetryDep, JobStatusDep

router = APIRouter(route_class=DashboardRoute)


@router.get("/jobs/{job_id}/retry", response_class=HTMLResponse)
def retry_confirm(
    request: Request, job_id: str, signed: SignedDep, statuses: JobStatusDep
) -> HTMLResponse:
    if not layout.is_job_id(job_id):
        raise NotFoundPage(job_id)
    manifest, status = statuses.status(job_id, tenant=signed.tenant)
    failed, _ = chunks_to_retry(manifest, status, include_cancelled=False)
    every, _ = chunks_to_retry(manifest, status, include_cancelled=True)
    return page(
        request,
        "retry.html",
        {
            "signed": signed,
            "row": views.job_row(status, now(), manifest.label),
            "ended": manifest.outcome is not None and status.state.value != "completed",
            "failed": len(failed),
            "cancelled": len(every) - len(failed),
            "page": "jobs",
        },
    )


@router.post("/jobs/{job_id}/retry")
def retry(
    request: Request, job_id: str, signed: SignedDep, form: FormDep, retrier: JobRetryDep
) -> Response:
    signed.check_csrf(one(form, "csrf"))
    if not layout.is_job_id(job_id):
        raise NotFoundPage(job_id)
    try:
        retrier.retry(
            job_id,
            tenant=signed.tenant,
            include_cancelled=one(form, "include_cancelled") == "on",
            trace_context={},
        )
    except JobNotEnded:
        return error_page(request, 409, "Still running", "Only a job that has ended is retried.")
    except QueuedFramesCapExceeded as error:
        return error_page(request, 429, "Too many frames waiting", f"{error}. Try again later.")
    except ConcurrentUpdate:
        return error_page(request, 409, "Changed meanwhile", "Reload the page and try again.")
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
