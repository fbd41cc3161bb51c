"""A budget's threshold events: after a settle added spending to the usage totals, one
``budget.threshold`` event for each threshold percentage that spending crossed, once a month per
budget across the farm (the budget store marks each; renderfarm.billing.guard)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from renderfarm.billing.budgets import BudgetState
from renderfarm.billing.guard import BudgetGuard
from renderfarm.jobs.events import EventType, JobEvent


class EventPublisher(Protocol):
    """The events queue (renderfarm.jobs.ports.EventPublisher)."""

    def publish(self, events: Sequence[JobEvent]) -> None: ...


def threshold_event(
    state: BudgetState, percent: int, *, tenant: str, job_id: str, at: datetime
) -> JobEvent:
    """The event of ``state``'s budget crossing ``percent``. It is about the tenant's budget; the
    job whose chunk's spending crossed it is named too (``job_id``), as every event names one."""
    return JobEvent(
        type=EventType.BUDGET_THRESHOLD,
        job_id=job_id,
        tenant=tenant,
        at=at,
        detail={**state.to_dict(), "percent": percent, "job_id": job_id},
    )


def announce_thresholds(  # noqa: PLR0913 - the settle's facts, each named
    guard: BudgetGuard,
    events: EventPublisher,
    tenant: str,
    tags: Sequence[str],
    added_usd: float,
    *,
    job_id: str,
    at: datetime | None = None,
) -> list[JobEvent]:
    """Right after ``added_usd`` of a job of ``tenant`` with ``tags`` was added to the totals:
    publish a ``budget.threshold`` event per threshold crossed, and return them. Raises
    DependencyUnavailable when the totals, the store or the queue does not answer."""
    when = at or datetime.now(UTC)
    crossed = guard.crossed(tenant, tags, added_usd)
    announced = [
        threshold_event(state, percent, tenant=tenant, job_id=job_id, at=when)
        for percent, state in crossed
    ]
    events.publish(announced)
    return announced
