"""The jobs page (searched by state, name prefix and tags, paged with a cursor) and one job's
page, the fragments of each that the page's script polls while something renders, and
cancelling a job."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from dashboard import views
from dashboard.deps import ChunkLogs, ChunkLogsDep, FormDep, Signed, SignedDep, one
from dashboard.job_search import JobSearch
from dashboard.pages import DashboardRoute, NotFoundPage, now, page
from dashboard.quotes import quote_panel
from renderfarm.jobs.cost import job_cost
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.errors import InvalidCursor
from web_deps.services import FrameLinksDep, JobCancelDep, JobListingDep, JobStatusDep

JOBS_PER_PAGE = 50
#: Log tails read for a job's page (a download each).
MAX_LOGS_READ = 10

router = APIRouter(route_class=DashboardRoute)


def _rows(
    listing: JobListingDep, tenant: str, search: JobSearch
) -> tuple[list[views.JobRow], str | None, JobSearch]:
    """A page of rows, the cursor of the next, and the search (with an error that stopped it)."""
    if search.error is not None:
        return [], None, search
    try:
        listed = listing.list_jobs(
            tenant=tenant,
            size=JOBS_PER_PAGE,
            cursor=search.cursor,
            state=search.state,
            matching=search.matching,
        )
    except InvalidCursor:
        return [], None, replace(search, error="That page is gone: start from the newest jobs.")
    moment = now()
    rows = [views.job_row(status, moment, manifest.label) for manifest, status in listed.statuses]
    return rows, listed.cursor, search


@router.get("/", response_class=HTMLResponse)
@router.get("/jobs/rows", response_class=HTMLResponse)
def jobspage(  # noqa: PLR0913 - a FastAPI route: one parameter per dependency and query
    *,
    request: Request,
    signed: SignedDep,
    listing: JobListingDep,
    state: str | None = None,
    name: str | None = None,
    tags: str | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    """The jobs page, or (``/jobs/rows``) only its rows, which the page's script swaps in."""
    asked = JobSearch.of(state=state, name=name, tags=tags, cursor=cursor)
    rows, next_cursor, search = _rows(listing, signed.tenant, asked)
    rows_only = request.url.path.endswith("/rows")
    return page(
        request,
        "jobs_rows.html" if rows_only else "jobs.html",
        {
            "signed": signed,
            "rows": rows,
            "search": search,
            "next_query": search.query(cursor=next_cursor) if next_cursor else None,
            "states": views.STATE_FILTERS,
            "active": any(row.active for row in rows),
            "page": "jobs",
        },
        _status_of(asked, search),
    )


def _status_of(asked: JobSearch, answered: JobSearch) -> int:
    """422 for a name or tag the rules refuse, 400 for a cursor that is gone, else 200."""
    if asked.error is not None:
        return 422
    return 400 if answered.error is not None else 200


def _job_context(  # noqa: PLR0913 - keyword-only: the page routes' dependencies, handed on
    *,
    request: Request,
    job_id: str,
    signed: Signed,
    statuses: JobStatusDep,
    links: FrameLinksDep,
    logs: ChunkLogs,
) -> dict[str, Any]:
    if not layout.is_job_id(job_id):
        raise NotFoundPage(job_id)
    manifest, status = statuses.status(job_id, tenant=signed.tenant)
    troubled = views.troubled(status)[:MAX_LOGS_READ]
    tails = logs.chunk_logs(job_id, troubled) if troubled else {}
    request.state.media_origin = links.origin
    request.state.job_id = job_id
    previews = None
    if manifest.previews_at is not None:
        previews = {
            "contact_sheet": links.read_link(layout.contact_sheet_blob(job_id)).url,
            "video": links.read_link(layout.preview_video_blob(job_id)).url,
        }
    estimate = job_cost(status)
    chunks = views.chunk_views(manifest, status, tails)
    return {
        "signed": signed,
        "manifest": manifest,
        "status": status,
        "row": views.job_row(status, now(), manifest.label),
        "chunks": chunks,
        "failures": [chunk for chunk in chunks if chunk.last_error],
        "thumbs": views.thumbnails(manifest, status, links),
        "more_frames": max(0, len(status.frames_present) - views.MAX_THUMBNAILS),
        "previews": previews,
        "cost_lines": views.cost_lines(estimate),
        "estimate": estimate,
        "quote": quote_panel(manifest, status),
        "timings": [
            ("Submitted", status.created_at),
            ("Started", status.started_at),
            ("Finished", status.finished_at),
            ("Cancelled", status.cancelled_at),
        ],
        "wall_time": views.duration(status.started_at, status.finished_at),
        "page": "jobs",
    }


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
@router.get("/jobs/{job_id}/live", response_class=HTMLResponse)
def jobpage(  # noqa: PLR0913 - a FastAPI route: one parameter per dependency
    *,
    request: Request,
    job_id: str,
    signed: SignedDep,
    statuses: JobStatusDep,
    links: FrameLinksDep,
    logs: ChunkLogsDep,
) -> HTMLResponse:
    """The job's page, or (``/live``) only its live part, which the page's script swaps in."""
    context = _job_context(
        request=request,
        job_id=job_id,
        signed=signed,
        statuses=statuses,
        links=links,
        logs=logs,
    )
    live = request.url.path.endswith("/live")
    return page(request, "job_live.html" if live else "job.html", context)


@router.get("/jobs/{job_id}/cancel", response_class=HTMLResponse)
def cancel_confirm(
    request: Request, job_id: str, signed: SignedDep, statuses: JobStatusDep
) -> HTMLResponse:
    if not layout.is_job_id(job_id):
        raise NotFoundPage(job_id)
    manifest, status = statuses.status(job_id, tenant=signed.tenant)
    return page(
        request,
        "cancel.html",
        {"signed": signed, "row": views.job_row(status, now(), manifest.label), "page": "jobs"},
    )


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: str, signed: SignedDep, form: FormDep, canceller: JobCancelDep) -> Response:
    signed.check_csrf(one(form, "csrf"))
    if not layout.is_job_id(job_id):
        raise NotFoundPage(job_id)
    canceller.cancel(job_id, tenant=signed.tenant)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
