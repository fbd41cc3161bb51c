"""Whether a spent budget holds a job's next chunk: the decision a worker makes before it starts
one (containerapp_worker/billing.py), from what the BudgetGuard has read of budgets and spending.

A chunk of a job that takes no more work (cancelled, ended, retried past) is never held: its
worker goes on to say so, as it would for any such chunk.
"""

from __future__ import annotations

from renderfarm.billing.budgets import BudgetState
from renderfarm.billing.guard import BudgetGuard
from renderfarm.jobs.manifest import JobManifest

#: Why a held chunk waits (ChunkRecord.held, and the job status's ``held``).
HELD_BY_BUDGET = "budget"


def holding_budget(
    guard: BudgetGuard, manifest: JobManifest, *, retry_round: int
) -> BudgetState | None:
    """The spent budget that holds a chunk of ``manifest``'s job sent in ``retry_round``, if
    any: the tenant's, or one of a tag the job carries, at 100 % with ``hold`` set."""
    if not manifest.accepts_work() or manifest.round != retry_round:
        return None
    return guard.holding(manifest.tenant, manifest.label.tags)
