"""A scouted job's quote as the API answers it (``quote`` in ``GET /api/jobs/{id}``), with what
the job cost once it ended beside the estimate (renderfarm.jobs.quote)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from renderfarm.jobs.cost import job_cost
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.quote import Decision
from renderfarm.jobs.scouting import decision
from renderfarm.jobs.status import JobState, JobStatus


class ScoutFramePublic(BaseModel):
    frame: int
    seconds: float = Field(description="Blender's seconds on it, at the job's own settings")


class QuotePublic(BaseModel):
    """What the scout frames say the whole job will take and cost, and what became of it
    (docs/cost-and-speed.md "Scout frames and quotes")."""

    decision: Decision = Field(
        description="pending: waits for POST /api/jobs/{job_id}/approve; approved; "
        "auto-approved: under approve_below_usd; rejected: cancelled unapproved; expired: "
        "not approved by expires_at, so the farm cancelled the job"
    )
    scout_frames: list[ScoutFramePublic] = Field(description="each scout frame, as measured")
    seconds_per_frame: float = Field(description="Blender's seconds per frame, over the scouts")
    estimated_worker_seconds: float = Field(
        description="worker seconds of the whole job, its scout frames included"
    )
    estimated_usd: float = Field(description="the whole job at list prices, as `cost` prices it")
    estimated_finish_at: datetime = Field(
        description="when the job would be done if approved when quoted, on max_replicas "
        "replicas of its pool"
    )
    max_replicas: int = Field(ge=1, description="the most replicas the job's pool scales to")
    prices_version: str
    prices_as_of: date = Field(description="the date of the price table")
    quoted_at: datetime
    expires_at: datetime = Field(description="when the farm cancels the job if not approved")
    approve_below_usd: float | None = Field(
        description="the job's own threshold for approving itself (null: none)"
    )
    approved_at: datetime | None
    actual_usd: float | None = Field(
        description="what the job cost, once it has ended (null before): `cost`'s estimate"
    )
    actual_to_estimate: float | None = Field(
        description="actual_usd / estimated_usd, once the job has completed (null before)"
    )


def quote_public(manifest: JobManifest, status: JobStatus) -> QuotePublic | None:
    record, verdict = manifest.quote, decision(manifest)
    if record is None or verdict is None:
        return None
    quote = record.quote
    actual = job_cost(status) if status.state.is_terminal else None
    actual_usd = actual.estimated_usd if actual is not None else None
    completed = status.state is JobState.COMPLETED and actual_usd is not None
    return QuotePublic(
        decision=verdict,
        scout_frames=[
            ScoutFramePublic(frame=f.frame, seconds=f.seconds) for f in quote.scout_frames
        ],
        seconds_per_frame=quote.seconds_per_frame,
        estimated_worker_seconds=quote.estimated_worker_seconds,
        estimated_usd=quote.estimated_usd,
        estimated_finish_at=quote.estimated_finish_at,
        max_replicas=quote.max_replicas,
        prices_version=quote.prices_version,
        prices_as_of=quote.prices_as_of,
        quoted_at=quote.quoted_at,
        expires_at=quote.expires_at,
        approve_below_usd=manifest.spec.approve_below_usd,
        approved_at=record.approved_at,
        actual_usd=actual_usd,
        actual_to_estimate=(
            round(actual_usd / quote.estimated_usd, 4)
            if completed and actual_usd is not None and quote.estimated_usd > 0
            else None
        ),
    )
