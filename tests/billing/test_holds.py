"""The hold decision a worker makes before a chunk starts, the chunk record and job status that
show it, the 402 a submit gets, and the threshold events: over in-memory budgets and totals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from renderfarm.billing.budgets import Budget, BudgetExhausted
from renderfarm.billing.guard import BudgetGuard
from renderfarm.billing.holds import HELD_BY_BUDGET, holding_budget
from renderfarm.billing.thresholds import announce_thresholds
from renderfarm.billing.usage import Dimension, Spend, UsageAddition, UsageRow
from renderfarm.chunks import states as chunk_states
from renderfarm.chunks.record import ChunkRecord, ChunkState, ChunkSummary
from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.naming import JobLabel
from renderfarm.jobs.status import job_status
from tests.job_manifests import new_manifest

JOB = "0123456789abcdef0123456789abcdef"
T0 = datetime(2026, 12, 7, tzinfo=UTC)
TODAY = date(2026, 12, 7)


class Budgets:
    def __init__(self, *budgets: Budget) -> None:
        self.rows = list(budgets)
        self.marked: set[tuple[str, str, int]] = set()

    def budgets(self, tenant: str) -> list[Budget]:
        return [b for b in self.rows if b.tenant == tenant]

    def set_budget(self, budget: Budget) -> None:
        self.rows.append(budget)

    def remove_budget(self, tenant: str, tag: str | None) -> bool:
        raise NotImplementedError

    def all_budgets(self) -> list[Budget]:
        return list(self.rows)

    def mark_threshold(self, budget: Budget, month: str, percent: int) -> bool:
        key = (budget.scope, month, percent)
        first = key not in self.marked
        self.marked.add(key)
        return first


class Totals:
    def __init__(self) -> None:
        self.spent: dict[tuple[str, Dimension, str], float] = {}

    def spend(self, usd: float, *tags: str, tenant: str = "acme") -> None:
        for dimension, value in [(Dimension.DAY, ""), *((Dimension.TAG, t) for t in tags)]:
            key = (tenant, dimension, value)
            self.spent[key] = self.spent.get(key, 0.0) + usd

    def add(self, addition: UsageAddition) -> bool:
        raise NotImplementedError

    def rows(
        self, tenant: str, month: str, dimension: Dimension, value: str | None = None
    ) -> list[tuple[UsageRow, Spend]]:
        return [
            (UsageRow(dimension=dimension, value=v, day=7, shard=0), Spend(usd=usd))
            for (t, d, v), usd in self.spent.items()
            if t == tenant and d is dimension and (value is None or v == value)
        ]


class Events:
    def __init__(self) -> None:
        self.published: list[JobEvent] = []

    def publish(self, events: Sequence[JobEvent]) -> None:
        self.published.extend(events)


def guard(budgets: Budgets, totals: Totals) -> BudgetGuard:
    return BudgetGuard(store=budgets, totals=totals, today=lambda: TODAY, cache_s=0)


def manifest(*tags: str) -> JobManifest:
    made = new_manifest(
        job_id=JOB,
        created_at=T0,
        blender="4.5",
        saved_by="4.2",
        label=JobLabel(name="shot", tags=tags),
    )
    return made.enqueued()


def test_a_spent_tenant_budget_holds_every_chunk_and_a_raise_releases_it() -> None:
    budgets, totals = Budgets(Budget(tenant="acme", tag=None, monthly_usd=1.0)), Totals()
    farm = guard(budgets, totals)
    assert holding_budget(farm, manifest(), retry_round=0) is None
    totals.spend(1.0)
    held = holding_budget(farm, manifest("project=forest"), retry_round=0)
    assert held is not None and held.budget.scope == "tenant" and held.spent_usd == 1.0
    budgets.rows = [Budget(tenant="acme", tag=None, monthly_usd=2.0)]
    assert holding_budget(farm, manifest(), retry_round=0) is None


def test_a_spent_tag_budget_holds_only_jobs_carrying_the_tag() -> None:
    budgets = Budgets(Budget(tenant="acme", tag="project=forest", monthly_usd=1.0))
    totals = Totals()
    totals.spend(1.5, "project=forest")
    farm = guard(budgets, totals)
    assert holding_budget(farm, manifest("project=forest"), retry_round=0) is not None
    assert holding_budget(farm, manifest("project=desert"), retry_round=0) is None


def test_a_budget_that_only_notifies_never_holds() -> None:
    budgets = Budgets(Budget(tenant="acme", tag=None, monthly_usd=1.0, hold=False))
    totals = Totals()
    totals.spend(5.0)
    assert holding_budget(guard(budgets, totals), manifest(), retry_round=0) is None


def test_a_cancelled_or_retried_past_job_is_never_held_its_worker_says_so() -> None:
    budgets, totals = Budgets(Budget(tenant="acme", tag=None, monthly_usd=0.0)), Totals()
    farm = guard(budgets, totals)
    assert holding_budget(farm, manifest(), retry_round=0) is not None  # 0 USD: spent at once
    assert holding_budget(farm, manifest().cancelled(T0), retry_round=0) is None
    assert holding_budget(farm, manifest(), retry_round=1) is None


def test_a_held_chunk_stays_pending_counts_no_attempt_and_its_start_clears_the_hold() -> None:
    record = ChunkRecord(job_id=JOB, chunk_index=1, state=ChunkState.PENDING)
    held = chunk_states.hold(record, reason=HELD_BY_BUDGET, at=T0)
    assert (held.state, held.attempts, held.held) == (ChunkState.PENDING, 0, "budget")
    assert ChunkRecord.from_json(held.to_json()) == held
    assert ChunkSummary.from_metadata(held.to_metadata()) == ChunkSummary.of(held)
    started = chunk_states.start(held, worker_id="w", blender_version="4.5.0", at=T0)
    assert (started.state, started.attempts, started.held) == (ChunkState.RENDERING, 1, None)
    done = replace(record, state=ChunkState.DONE)
    assert chunk_states.hold(done, reason=HELD_BY_BUDGET, at=T0) == done


def test_the_job_status_says_held_budget_while_a_chunk_waits_held() -> None:
    held = ChunkSummary(state=ChunkState.PENDING, attempts=0, held="budget")
    done = ChunkSummary(state=ChunkState.DONE, attempts=1)
    status = job_status(manifest(), chunks={0: done, 1: held}, errors={}, frames_present={1, 2})
    assert status.held == "budget"
    assert [c.held for c in status.chunks] == [None, "budget", None]
    free = job_status(manifest(), chunks={0: done}, errors={}, frames_present={1, 2})
    assert free.held is None


def test_a_submit_is_refused_with_the_budget_its_spending_and_its_reset() -> None:
    budgets = Budgets(Budget(tenant="acme", tag="project=forest", monthly_usd=2.0))
    totals = Totals()
    totals.spend(2.5, "project=forest")
    farm = guard(budgets, totals)
    farm.check_submit("acme", ["project=desert"])
    with pytest.raises(BudgetExhausted) as refused:
        farm.check_submit("acme", ["project=forest"])
    problem = refused.value.problem_extra()["budget"]
    assert problem["scope"] == "tag:project=forest"
    assert problem["spent_usd"] == 2.5 and problem["monthly_usd"] == 2.0
    assert problem["resets_at"] == "2027-01-01T00:00:00Z"


def test_each_threshold_crossed_is_announced_once_as_a_budget_event() -> None:
    budgets = Budgets(Budget(tenant="acme", tag=None, monthly_usd=10.0, notify_at=(50, 80)))
    totals, events = Totals(), Events()
    farm = guard(budgets, totals)
    totals.spend(9.0)
    announced = announce_thresholds(farm, events, "acme", (), 9.0, job_id=JOB, at=T0)
    assert [e.detail["percent"] for e in announced] == [50, 80]
    assert all(e.type is EventType.BUDGET_THRESHOLD for e in events.published)
    detail = announced[0].detail
    assert (detail["scope"], detail["month"], detail["monthly_usd"]) == ("tenant", "2026-12", 10.0)
    assert detail["spent_usd"] == 9.0 and detail["job_id"] == JOB
    assert len({e.id for e in announced}) == 2 and all(len(e.id) <= 128 for e in announced)
    assert JobEvent.from_json(announced[0].to_json()).id == announced[0].id
    totals.spend(0.5)
    assert announce_thresholds(farm, events, "acme", (), 0.5, job_id=JOB) == []
