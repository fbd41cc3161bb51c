"""What a job's page shows of its quote (renderfarm.jobs.quote): labels and money, formatted for
people; the decision is the domain's (renderfarm.jobs.scouting)."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.views import usd
from renderfarm.jobs.cost import job_cost
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.quote import Decision
from renderfarm.jobs.scouting import decision
from renderfarm.jobs.status import JobState, JobStatus

_TIME = "%Y-%m-%d %H:%M:%S UTC"


@dataclass(frozen=True, kw_only=True)
class QuotePanel:
    decision: str
    pending: bool
    lines: list[tuple[str, str]]
    expires: str


def quote_panel(manifest: JobManifest, status: JobStatus) -> QuotePanel | None:
    record, verdict = manifest.quote, decision(manifest)
    if record is None or verdict is None:
        return None
    quote = record.quote
    scouts = ", ".join(f"{f.frame}: {f.seconds:.2f} s" for f in quote.scout_frames)
    lines = [
        ("Scout frames", scouts),
        ("Blender per frame", f"{quote.seconds_per_frame:.2f} s"),
        ("Worker time", f"{quote.estimated_worker_seconds:,.1f} s"),
        ("Estimated cost", usd(quote.estimated_usd)),
        (
            "Finish if approved at once",
            f"{quote.estimated_finish_at.strftime(_TIME)} on up to {quote.max_replicas} replicas",
        ),
        ("Price table", f"{quote.prices_version} ({quote.prices_as_of})"),
    ]
    if manifest.spec.approve_below_usd is not None:
        lines.append(("Approves itself below", usd(manifest.spec.approve_below_usd)))
    lines.extend(_actual(quote.estimated_usd, status))
    return QuotePanel(
        decision=verdict.value,
        pending=verdict is Decision.PENDING,
        lines=lines,
        expires=quote.expires_at.strftime(_TIME),
    )


def _actual(estimated: float, status: JobStatus) -> list[tuple[str, str]]:
    """What the job cost once it ended, against the estimate once it completed."""
    cost = job_cost(status) if status.state.is_terminal else None
    if cost is None:
        return []
    lines = [("Actual cost", usd(cost.estimated_usd))]
    if status.state is JobState.COMPLETED and estimated > 0:
        lines.append(("Actual / estimate", f"{cost.estimated_usd / estimated:.2f}"))
    return lines
