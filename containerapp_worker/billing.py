"""Budgets and usage in the worker: before a chunk starts, whether a spent budget holds it; when an
attempt ends, its spending added to the usage totals and the budget thresholds it crossed
announced. The composition lives here, so the rest of the worker only asks ``hold`` and
``attempt_ended``.

A hold is checked with what the BudgetGuard read at most ``budget_cache_seconds`` ago: a thousand
workers starting chunks do not each read the budgets every time. When the budget or the totals
cannot be read the chunk renders: an outage of the table stops no farm, and spending passes a
budget by what starts meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusClient

from containerapp_worker.chunk_attempt import ChunkAttempt, now
from containerapp_worker.chunk_outcome import Outcome, Verdict
from renderfarm.billing.budgets import BudgetState
from renderfarm.billing.guard import BudgetGuard
from renderfarm.billing.holds import HELD_BY_BUDGET, holding_budget
from renderfarm.billing.ports import UsageTotals
from renderfarm.billing.thresholds import EventPublisher, announce_thresholds
from renderfarm.billing.usage import Attribution, Spend, UsageAddition
from renderfarm.chunks import states as chunk_states
from renderfarm.jobs.cost import attempt_usd, current_prices
from renderfarm.jobs.manifest import JobManifest
from renderfarm.shared.errors import DependencyUnavailable
from renderfarm.shared.settings import Settings
from renderfarm_azure import billing_stores
from renderfarm_azure.event_publisher import ServiceBusEventPublisher
from renderfarm_azure.guard import breaker
from renderfarm_azure.senders import QueueSenders

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class WorkerBilling:
    guard: BudgetGuard
    totals: UsageTotals
    events: EventPublisher
    worker_id: str

    def hold(self, attempt: ChunkAttempt) -> Outcome | None:
        """A HOLD outcome when a spent budget holds the chunk: its record says ``held`` and no
        attempt counts; None when it may start. The manifest is read (for the job's tags) only
        when a budget of the tenant holds at all."""
        message = attempt.message
        try:
            if not self.guard.may_hold(message.tenant):
                return None
            manifest = attempt.read_manifest()
            state = (
                None
                if manifest is None
                else holding_budget(self.guard, manifest, retry_round=message.round)
            )
        except (DependencyUnavailable, AzureError):
            log.warning("could not read the budgets: the chunk renders", exc_info=True)
            return None
        if state is None:
            return None
        attempt.record(lambda record: chunk_states.hold(record, reason=HELD_BY_BUDGET, at=now()))
        log.info(
            "chunk held by a spent budget",
            extra={"job_id": message.job_id, "chunk_index": message.chunk_index},
        )
        return Outcome(verdict=Verdict.HOLD, reason="BudgetExhausted", description=_why(state))

    def attempt_ended(self, attempt: ChunkAttempt, outcome: Outcome) -> None:
        """Add what the attempt cost to the usage totals, then announce the thresholds it
        crossed. Best effort: a failure here never changes how the chunk settles."""
        number, manifest = attempt.log.attempt if attempt.log else None, attempt.manifest
        if number is None or manifest is None:
            return  # the attempt never counted (held, or a finished chunk delivered again)
        usage = attempt.timer.so_far()
        usd = attempt_usd(usage, frames=outcome.frames_rendered, prices=current_prices())
        try:
            # USAGE (minimal, for budgets to see spending): the usage wiring adds the attempt's
            # spend at settle; keep one of the two when both are merged.
            addition = self._addition(
                manifest, attempt, number, usd=usd, frames=outcome.frames_rendered
            )
            self.totals.add(addition)
            tags = manifest.label.tags
            announce_thresholds(
                self.guard, self.events, manifest.tenant, tags, usd, job_id=manifest.job_id
            )
        except (DependencyUnavailable, AzureError):
            log.warning("could not add the attempt's usage", exc_info=True)

    def _addition(
        self, manifest: JobManifest, attempt: ChunkAttempt, number: int, *, usd: float, frames: int
    ) -> UsageAddition:
        label, message = manifest.label, attempt.message
        usage = attempt.timer.so_far()
        return UsageAddition(
            id=f"{message.job_id}/{message.chunk_index}/{number}",
            owner=Attribution(
                tenant=manifest.tenant,
                name=label.name,
                tags=label.tags,
                submitted_by=label.submitted_by or "",
            ),
            at=datetime.now(UTC),
            spend=Spend(worker_s=usage.worker_s, frames=frames, usd=usd),
            writer=self.worker_id,
        )


def _why(state: BudgetState) -> str:
    budget = state.budget
    return (
        f"the {budget.scope} budget of {budget.monthly_usd:.2f} USD for {state.month} is spent "
        f"({state.spent_usd:.2f} USD)"
    )


def worker_billing(
    settings: Settings, *, bus: ServiceBusClient, worker_id: str
) -> WorkerBilling | None:
    """None where no table account is configured: the worker then holds nothing and adds no
    usage."""
    guard, totals = billing_stores.budget_guard(settings), billing_stores.usage_totals(settings)
    if guard is None or totals is None:
        return None
    events = ServiceBusEventPublisher(
        senders=QueueSenders(client=bus, breaker=breaker("service bus")),
        queue_name=settings.events_queue,
    )
    return WorkerBilling(guard=guard, totals=totals, events=events, worker_id=worker_id)
