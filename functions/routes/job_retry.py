"""Retrying a job: ``POST /api/jobs/{id}/retry`` renders again only the chunks of an ended job
that failed (renderfarm.jobs.retry)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from opentelemetry import propagate
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from functions.deps import TenantDep
from functions.openapi import RATE_LIMIT_HEADERS, answers, link
from functions.routes.jobs import JobId
from renderfarm.jobs.retry import Retried, RetryOutcome
from renderfarm.wire import RetryAnswer
from renderfarm_azure.telemetry import tracer
from web_deps.services import JobRetryDep

router = APIRouter(tags=["jobs"])

_GET_JOB = link("job_status", "Read the job's status", job_id="$response.body#/job_id")
_UNCHANGED = (
    "Nothing changed, and the answer says why (`outcome`): a round was under way "
    "(`already_retrying`), the job completed (`completed`), or it was cancelled with no failed "
    "chunk (`nothing_failed`)"
)


class RetryRequest(BaseModel):
    """What to render again (the body may be left out: the failed chunks only)."""

    model_config = ConfigDict(extra="forbid")

    include_cancelled: StrictBool = Field(
        default=False,
        description="also render again the chunks the job's cancel stopped before they finished",
    )


def _unchanged_answer() -> dict[str, Any]:
    return {
        "description": _UNCHANGED,
        "model": RetryAnswer,
        "headers": RATE_LIMIT_HEADERS,
        "links": {"GetJob": _GET_JOB},
    }


@router.post(
    "/jobs/{job_id}/retry",
    status_code=202,
    response_model=RetryAnswer,
    responses={
        200: _unchanged_answer(),
        **answers(
            202,
            links={"GetJob": _GET_JOB},
            errors={
                400: None,
                404: "No such job for this key's tenant (`job-not-found`)",
                409: (
                    "The job has not ended and was never retried (`job-not-ended`, with "
                    "`state`); the job kept changing meanwhile: call again "
                    "(`concurrent-update`)"
                ),
                422: None,
                429: (
                    "This key made too many requests (`rate-limited`, with the RateLimit "
                    "headers), or the tenant has too many frames waiting to queue the chunks "
                    "again (`queued-frames-cap`, with `waiting` and `cap`)"
                ),
                503: (
                    "Blob Storage or Service Bus failed or was slow (`unavailable`): call again; "
                    "a retry that stopped midway is finished by the next call"
                ),
            },
        ),
    },
)
def retry_job(  # noqa: PLR0913 - a FastAPI route: one parameter per dependency
    *,
    job_id: JobId,
    request: Request,
    response: Response,
    tenant: TenantDep,
    retrier: JobRetryDep,
    body: Annotated[RetryRequest | None, Body()] = None,
) -> RetryAnswer:
    """Render again only the chunks of an ended job that failed (with ``include_cancelled``,
    also those its cancel stopped). 202 when a new round started; 200 when nothing changed.

    Frames already in Blob are kept. The job goes back to ``rendering`` and its end is recorded
    anew, with a ``job.retried`` event. A second call while the round runs changes nothing.
    """
    request.state.job_id = job_id
    with tracer.start_as_current_span("retry_job") as span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        span.set_attribute("renderfarm.job_id", job_id)
        retried = retrier.retry(
            job_id,
            tenant=tenant,
            include_cancelled=body.include_cancelled if body is not None else False,
            trace_context=carrier,
        )
    if retried.outcome is not RetryOutcome.RETRIED:
        response.status_code = 200
    return retry_answer(retried)


def retry_answer(retried: Retried) -> RetryAnswer:
    """The wire shape of a retry call's answer."""
    manifest = retried.manifest
    return RetryAnswer(
        job_id=manifest.job_id,
        outcome=retried.outcome.value,
        retried=retried.outcome is RetryOutcome.RETRIED,
        state=retried.status.state.value,
        round=manifest.round,
        chunks=manifest.retry.chunks if manifest.retry is not None else (),
        frames=retried.frames,
        status_url=f"/api/jobs/{manifest.job_id}",
    )
