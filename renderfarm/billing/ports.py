"""What the billing use cases need from storage (renderfarm_azure.usage_totals_store in Azure)."""

from __future__ import annotations

from typing import Protocol

from renderfarm.billing.usage import Dimension, Spend, UsageAddition, UsageRow


class UsageTotals(Protocol):
    """A tenant's running totals, one partition per month. Raises DependencyUnavailable when the
    store does not answer."""

    def add(self, addition: UsageAddition) -> bool:
        """Add ``addition`` to each of its rows at once, and only once: False when an addition
        of its id was applied before (nothing is added again)."""
        ...

    def rows(
        self, tenant: str, month: str, dimension: Dimension, value: str | None = None
    ) -> list[tuple[UsageRow, Spend]]:
        """Every row of ``dimension`` in the month (of one ``value`` if given), every shard."""
        ...


class _NoUsage:
    """Where no usage is kept (no table account): nothing was ever spent."""

    def add(self, addition: UsageAddition) -> bool:
        return False

    def rows(
        self, tenant: str, month: str, dimension: Dimension, value: str | None = None
    ) -> list[tuple[UsageRow, Spend]]:
        return []


NO_USAGE: UsageTotals = _NoUsage()
