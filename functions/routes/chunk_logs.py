"""A chunk attempt's Blender log: ``GET /api/jobs/{id}/chunks/{n}/log`` (docs/api.md)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response

from functions.deps import TenantDep
from functions.openapi import RATE_LIMIT_HEADERS, answers
from functions.routes.jobs import JobId
from renderfarm.jobs.chunk_logs import LogRead
from renderfarm.wire import ChunkLogPage
from web_deps.services import ChunkLogReaderDep

router = APIRouter(tags=["jobs"])

ChunkIndex = Annotated[int, Path(ge=0, le=1_000_000, description="the chunk's index")]
#: An entity tag as this route hands them out; any other If-None-Match is ignored (a full answer).
_ETAG = re.compile(r'^(?:W/)?("[\x21\x23-\x7e]{1,128}")$')
_ETAG_HEADER = {
    "ETag": {
        "description": "the log's version: send it back as If-None-Match to get a 304 while "
        "the log has not changed",
        "required": True,
        "schema": {"type": "string"},
    }
}
_ANSWERS = {
    **answers(
        200,
        headers=_ETAG_HEADER,
        errors={
            404: (
                "No such job for this key's tenant (`job-not-found`); the job has no chunk "
                "`chunk_index` (`chunk-not-found`); the chunk has no log of `attempt` "
                "(`attempt-not-found`), or none yet: no worker has started it (`log-not-found`)"
            ),
            422: None,
        },
    ),
    304: {
        "description": "The log is still the version If-None-Match named",
        "headers": {**RATE_LIMIT_HEADERS, **_ETAG_HEADER},
    },
}


@router.get(
    "/jobs/{job_id}/chunks/{chunk_index}/log", response_model=ChunkLogPage, responses=_ANSWERS
)
def chunk_log(  # noqa: PLR0913 - a FastAPI route: one parameter per dependency/query parameter
    *,
    job_id: JobId,
    chunk_index: ChunkIndex,
    request: Request,
    response: Response,
    tenant: TenantDep,
    logs: ChunkLogReaderDep,
    attempt: Annotated[
        int | None, Query(ge=1, le=1_000_000, description="default: the latest attempt")
    ] = None,
    offset: Annotated[
        int,
        Query(
            ge=0,
            le=2**53,
            description="bytes of the log to skip: a follower passes the last `next_offset`",
        ),
    ] = 0,
    if_none_match: Annotated[
        str | None,
        Header(max_length=256, description="the ETag of the version the caller has"),
    ] = None,
) -> ChunkLogPage | Response:
    """Blender's log of one attempt at the chunk (its last MiB), from ``offset`` on, while the
    chunk renders and after. Poll with ``offset=next_offset`` and ``If-None-Match`` to follow it;
    the attempt is over once ``ended_at`` is set."""
    request.state.job_id = job_id
    known = _ETAG.match(if_none_match.strip()) if if_none_match else None
    read = logs.read(
        job_id,
        chunk_index,
        tenant=tenant,
        attempt=attempt,
        unless_etag=known[1] if known else None,
    )
    if read.log is None:
        # A Response of its own: copy the rate limit's headers the key check set.
        return Response(status_code=304, headers={**dict(response.headers), "ETag": read.etag})
    response.headers["ETag"] = read.etag
    return _page(read, offset)


def _page(read: LogRead, offset: int) -> ChunkLogPage:
    assert read.log is not None
    facts = read.log.facts
    start, text = read.log.since(offset)
    return ChunkLogPage(
        job_id=facts.job_id,
        chunk_index=facts.chunk_index,
        attempt=facts.attempt,
        attempts=read.attempts,
        worker_id=facts.worker_id,
        started_at=facts.started_at,
        ended_at=facts.ended_at,
        first_offset=facts.offset,
        offset=start,
        next_offset=read.log.next_offset,
        text=text,
    )
