"""A chunk attempt's Blender log as a page: ``/jobs/{id}/chunks/{n}/log[?attempt=K]``, and its
live part (``.../log/live``), which the page's script swaps in while the attempt runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dashboard.deps import SignedDep
from dashboard.pages import DashboardRoute, NotFoundPage, page
from renderfarm.chunks.logs import ChunkLogNotFound, ChunkNotFound
from renderfarm.jobs.chunk_logs import ChunkLogReader, LogRead
from renderfarm.shared import blob_layout as layout
from web_deps.services import ChunkLogReaderDep

router = APIRouter(route_class=DashboardRoute)
_MAX_DIGITS = 7


@router.get("/jobs/{job_id}/chunks/{chunk_index}/log", response_class=HTMLResponse)
@router.get("/jobs/{job_id}/chunks/{chunk_index}/log/live", response_class=HTMLResponse)
def chunk_log_page(  # noqa: PLR0913 - a FastAPI route: one parameter per dependency
    *,
    request: Request,
    job_id: str,
    chunk_index: str,
    signed: SignedDep,
    logs: ChunkLogReaderDep,
    attempt: str | None = None,
) -> HTMLResponse:
    """The log of ``attempt`` (default: the latest), or a page that says the chunk has none
    yet; another tenant's job, a chunk the job lacks and an attempt without a log are 404s."""
    # Taken as text: a mistyped address gets the 404 page, not the API's JSON problem.
    index, asked = _number(chunk_index), _number(attempt) if attempt is not None else None
    if not layout.is_job_id(job_id) or index is None or asked == 0 or (attempt and not asked):
        raise NotFoundPage(job_id)
    request.state.job_id = job_id
    read = _read(logs, job_id, index, tenant=signed.tenant, attempt=asked)
    context: dict[str, Any] = {
        "signed": signed,
        "job_id": job_id,
        "chunk_index": index,
        "asked": asked,
        "log": read.log if read is not None else None,
        "attempts": read.attempts if read is not None else (),
        "text": read.log.content.decode("utf-8", "replace") if read and read.log else "",
        "page": "jobs",
    }
    live = request.url.path.endswith("/live")
    return page(request, "chunk_log_live.html" if live else "chunk_log.html", context)


def _number(text: str) -> int | None:
    if text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS:
        return int(text)
    return None


def _read(
    logs: ChunkLogReader, job_id: str, index: int, *, tenant: str, attempt: int | None
) -> LogRead | None:
    """The log; None when the chunk has none yet (the page says so, and waits for it)."""
    try:
        return logs.read(job_id, index, tenant=tenant, attempt=attempt)
    except ChunkNotFound as error:
        raise NotFoundPage(job_id) from error
    except ChunkLogNotFound as error:
        if attempt is not None:  # AttemptNotFound: that attempt has no log
            raise NotFoundPage(job_id) from error
        return None
