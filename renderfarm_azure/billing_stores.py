"""The billing stores (renderfarm.billing) from settings: usage totals and budgets, in the table
account the rate limit uses (RENDERFARM_RATE_LIMIT_TABLE_CONNECTION_STRING locally, its
endpoint with managed identity in Azure). None where no table account is configured: the farm
then keeps no usage and enforces no budget."""

from __future__ import annotations

from azure.data.tables import TableClient

from renderfarm.billing.budgets import BudgetStore
from renderfarm.billing.guard import BudgetGuard
from renderfarm.billing.ports import UsageTotals
from renderfarm.billing.recording import UsageRecorder
from renderfarm.shared.settings import Settings
from renderfarm_azure import clients
from renderfarm_azure.budget_store import TableBudgetStore
from renderfarm_azure.usage_totals_store import TableUsageTotals

#: Bounds on each call: a settle or a chunk's start waits at most this on the table.
CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 5
RETRIES = 2


def farm_table(settings: Settings, name: str) -> TableClient | None:
    return clients.farm_table(
        settings,
        name,
        connect_timeout_s=CONNECT_TIMEOUT_S,
        read_timeout_s=READ_TIMEOUT_S,
        retries=RETRIES,
    )


def usage_totals(settings: Settings) -> TableUsageTotals | None:
    table = farm_table(settings, settings.usage_table)
    return None if table is None else TableUsageTotals(table)


def budget_store(settings: Settings) -> TableBudgetStore | None:
    table = farm_table(settings, settings.budgets_table)
    return None if table is None else TableBudgetStore(table)


def budget_guard(
    settings: Settings, *, totals: UsageTotals | None, store: BudgetStore | None
) -> BudgetGuard | None:
    """The guard over the process's own stores (None where either is missing)."""
    if totals is None or store is None:
        return None
    return BudgetGuard(store=store, totals=totals, cache_s=settings.budget_cache_seconds)


def usage_recorder(settings: Settings) -> UsageRecorder | None:
    """What adds chunk attempts' and jobs' spending to the usage totals (None: none kept)."""
    totals = usage_totals(settings)
    return None if totals is None else UsageRecorder(totals)
