"""What settling chunks adds to the usage totals, without storage: the attempts' additions and
the job's own add up to its status's estimate, and a failing store never fails a settle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from renderfarm.billing.recording import UsageRecorder, job_addition, owner_of
from renderfarm.billing.usage import Dimension, Spend, UsageAddition, UsageRow
from renderfarm.chunks.record import ChunkState, ChunkSummary
from renderfarm.chunks.usage import ChunkUsage
from renderfarm.jobs.cost import current_prices, job_cost
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.naming import JobLabel
from renderfarm.jobs.status import job_status
from renderfarm.shared.errors import DependencyUnavailable
from tests.job_manifests import new_manifest

AT = datetime(2026, 12, 7, 12, tzinfo=UTC)


class MemoryTotals:
    """The UsageTotals port in memory: each id applied once; ``failures`` adds that raise."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.applied: dict[str, UsageAddition] = {}

    def add(self, addition: UsageAddition) -> bool:
        if self.failures:
            self.failures -= 1
            raise DependencyUnavailable("usage totals", 5)
        if addition.id in self.applied:
            return False
        self.applied[addition.id] = addition
        return True

    def rows(
        self, tenant: str, month: str, dimension: Dimension, value: str | None = None
    ) -> list[tuple[UsageRow, Spend]]:
        return []

    @property
    def usd(self) -> float:
        return sum(addition.spend.usd for addition in self.applied.values())


def manifest(**fields: Any) -> JobManifest:
    label = JobLabel(name="shot", tags=("project=forest",), submitted_by="key1")
    return new_manifest(job_id="0" * 32, created_at=AT, label=label, **fields)


def recorder(totals: MemoryTotals) -> UsageRecorder:
    return UsageRecorder(totals, clock=lambda: AT)


def test_a_jobs_attempts_and_its_own_costs_add_up_to_its_estimate() -> None:
    job, totals = manifest(), MemoryTotals()
    usage = recorder(totals)
    # Chunk 0 twice (a transient failure, then done), chunk 1 once, chunk 2 never picked up.
    attempts = [
        (0, "1", ChunkUsage(worker_s=4.0, render_s=3.0, uploaded_bytes=100), 1),
        (0, "2", ChunkUsage(worker_s=6.0, render_s=5.0, uploaded_bytes=100), 1),
        (1, "1", ChunkUsage(worker_s=9.0, render_s=8.0, uploaded_bytes=200), 2),
    ]
    for chunk, number, spent, frames in attempts:
        usage.attempt_ended(
            job, chunk_index=chunk, attempt=number, usage=spent, frames=frames, writer="w1"
        )
    usage.job_ended(job)
    usage.job_ended(job)  # a second settler saw the end too: counted once
    recorded = {
        0: ChunkSummary(state=ChunkState.DONE, attempts=2, usage=attempts[0][2] + attempts[1][2]),
        1: ChunkSummary(state=ChunkState.DONE, attempts=1, usage=attempts[2][2]),
    }
    status = job_status(job, chunks=recorded, errors={}, frames_present={1, 2, 3, 4})
    estimate = job_cost(status, current_prices())
    assert estimate is not None
    assert totals.usd == pytest.approx(estimate.estimated_usd, rel=1e-9)
    ids = ["0/1", "0/2", "1/1", "job"]
    assert sorted(totals.applied) == [f"{job.job_id}/{name}" for name in ids]


def test_a_scouted_jobs_own_costs_count_its_scout_chunks() -> None:
    job = manifest(scout=True)
    plain = job_addition(manifest(), prices=current_prices())
    scouted = job_addition(job, prices=current_prices())
    assert scouted.spend.usd > plain.spend.usd  # three more chunks' sends
    assert scouted.at == job.created_at  # every writer names the same month


def test_usage_is_owned_by_the_jobs_tenant_name_tags_and_key() -> None:
    owner = owner_of(manifest())
    assert (owner.tenant, owner.name, owner.tags, owner.submitted_by) == (
        "acme",
        "shot",
        ("project=forest",),
        "key1",
    )


def test_a_failing_store_never_raises_and_the_addition_is_tried_once_more() -> None:
    job, totals = manifest(), MemoryTotals(failures=1)
    usage = recorder(totals)
    spent = ChunkUsage(worker_s=2.0)
    usage.attempt_ended(job, chunk_index=0, attempt="1", usage=spent, frames=1, writer="w")
    assert totals.applied == {} and len(usage.pending) == 1
    usage.attempt_ended(job, chunk_index=1, attempt="1", usage=spent, frames=1, writer="w")
    assert sorted(totals.applied) == [f"{job.job_id}/0/1", f"{job.job_id}/1/1"]
    assert not usage.pending


def test_an_addition_that_fails_twice_is_given_up() -> None:
    job, totals = manifest(), MemoryTotals(failures=3)
    usage = recorder(totals)
    spent = ChunkUsage(worker_s=2.0)
    usage.attempt_ended(job, chunk_index=0, attempt="1", usage=spent, frames=1, writer="w")
    usage.attempt_ended(job, chunk_index=1, attempt="1", usage=spent, frames=1, writer="w")
    assert [addition.id for addition in usage.pending] == [f"{job.job_id}/1/1"]


def test_an_attempt_that_wrote_nothing_adds_nothing() -> None:
    totals = MemoryTotals()
    recorder(totals).attempt_ended(
        manifest(), chunk_index=0, attempt="1", usage=ChunkUsage(), frames=0, writer="w"
    )
    assert totals.applied == {}


def test_budgets_hear_of_each_addition_applied_once() -> None:
    heard: list[str] = []
    usage = UsageRecorder(MemoryTotals(), clock=lambda: AT, on_added=lambda a: heard.append(a.id))
    usage.job_ended(manifest())
    usage.job_ended(manifest())
    assert heard == ["0" * 32 + "/job"]
