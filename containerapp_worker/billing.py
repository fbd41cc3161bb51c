"""Budgets and usage in the worker: before a chunk starts, whether a spent budget holds it; when an
attempt ends, its spending added to the usage totals (renderfarm.billing.recording), and the
budget thresholds each addition crossed announced. The composition lives here, so the rest of the
worker only asks ``hold`` and ``attempt_ended``.

A hold is checked with what the BudgetGuard read at most ``budget_cache_seconds`` ago: a thousand
workers starting chunks do not each read the budgets every time. When the budget or the totals
cannot be read the chunk renders: an outage of the table stops no farm, and spending passes a
budget by what starts meanwhile.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusClient

from containerapp_worker.chunk_attempt import ChunkAttempt, now
from containerapp_worker.chunk_outcome import Outcome, Verdict
from renderfarm.billing.budgets import BudgetState
from renderfarm.billing.guard import BudgetGuard
from renderfarm.billing.holds import HELD_BY_BUDGET, holding_budget
from renderfarm.billing.recording import UsageRecorder
from renderfarm.billing.thresholds import EventPublisher, announce_thresholds
from renderfarm.billing.usage import UsageAddition
from renderfarm.chunks import states as chunk_states
from renderfarm.chunks.record import ChunkState
from renderfarm.shared.errors import DependencyUnavailable
from renderfarm.shared.settings import Settings
from renderfarm_azure import billing_stores
from renderfarm_azure.event_publisher import ServiceBusEventPublisher
from renderfarm_azure.guard import breaker
from renderfarm_azure.senders import QueueSenders

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class WorkerBilling:
    #: Holds chunks of spent budgets (None: no budget account, nothing held).
    guard: BudgetGuard | None
    #: Adds each attempt's spending, and each job's own costs, to the usage totals.
    recorder: UsageRecorder
    worker_id: str

    def hold(self, attempt: ChunkAttempt) -> Outcome | None:
        """A HOLD outcome when a spent budget holds the chunk: its record says ``held`` and no
        attempt counts; None when it may start. The manifest is read (for the job's tags) only
        when a budget of the tenant holds at all."""
        message = attempt.message
        if self.guard is None:
            return None
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

    def attempt_ended(self, attempt: ChunkAttempt) -> None:
        """What the ended attempt wrote into its chunk's record, added to its tenant's usage
        under the attempt's number (whatever the outcome: the attempt spent worker time); the
        recorder announces the thresholds it crossed. Nothing when it wrote nothing (held, or
        its start came too late for a retried job). Never raises: usage is best effort."""
        timer, manifest = attempt.timer, attempt.manifest
        start = timer.start
        if manifest is None or start is None:
            return
        number = str(start.attempts)
        if start.state is not ChunkState.RENDERING:
            # A redelivery of a settled chunk did not count as an attempt: its (short) time
            # still went into the record, under a name of its own.
            number = f"{start.attempts}.{uuid.uuid4().hex[:8]}"
        self.recorder.attempt_ended(
            manifest,
            chunk_index=attempt.message.chunk_index,
            attempt=number,
            usage=timer.written,
            frames=timer.frames_written,
            writer=self.worker_id,
        )


def _why(state: BudgetState) -> str:
    budget = state.budget
    return (
        f"the {budget.scope} budget of {budget.monthly_usd:.2f} USD for {state.month} is spent "
        f"({state.spent_usd:.2f} USD)"
    )


def threshold_announcer(
    guard: BudgetGuard, events: EventPublisher
) -> Callable[[UsageAddition], None]:
    """Called after each addition the totals took: the thresholds it crossed, announced."""

    def announce(addition: UsageAddition) -> None:
        owner = addition.owner
        job_id = addition.id.split("/", 1)[0]
        try:
            announce_thresholds(
                guard, events, owner.tenant, owner.tags, addition.spend.usd, job_id=job_id
            )
        except (DependencyUnavailable, AzureError):
            log.warning("could not announce the budget thresholds", exc_info=True)

    return announce


def worker_billing(
    settings: Settings, *, bus: ServiceBusClient, worker_id: str
) -> WorkerBilling | None:
    """None where no table account is configured: the worker then holds nothing and adds no
    usage."""
    totals = billing_stores.usage_totals(settings)
    if totals is None:
        return None
    # One client to the usage table: the guard reads the totals the recorder adds to.
    store = billing_stores.budget_store(settings)
    guard = billing_stores.budget_guard(settings, totals=totals, store=store)
    announce = None
    if guard is not None:
        events = ServiceBusEventPublisher(
            senders=QueueSenders(client=bus, breaker=breaker("service bus")),
            queue_name=settings.events_queue,
        )
        announce = threshold_announcer(guard, events)
    recorder = UsageRecorder(totals, on_added=announce)
    return WorkerBilling(guard=guard, recorder=recorder, worker_id=worker_id)
