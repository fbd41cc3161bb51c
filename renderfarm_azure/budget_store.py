"""Budgets (renderfarm.billing.budgets) in Azure Table Storage, in the usage totals' account.

Table ``budgets``: PartitionKey the tenant, RowKey ``tenant`` or ``tag|<tag, escaped>``, with
``tag``, ``monthly_usd``, ``notify_at`` (``50,80``) and ``hold``. Thresholds already announced are
marked in PartitionKey ``<tenant>|thresholds``, RowKey ``<YYYY-MM>|<scope, escaped>|<percent>``:
the insert that succeeds is the one whose event goes out.
"""

from __future__ import annotations

import contextlib
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from renderfarm.billing.budgets import Budget
from renderfarm.shared.errors import DependencyUnavailable
from renderfarm_azure.usage_totals_store import value_key

RETRY_AFTER_S = 5
_TENANT_ROW = "tenant"


def _row_key(tag: str | None) -> str:
    return _TENANT_ROW if tag is None else f"tag|{value_key(tag)}"


class TableBudgetStore:
    """renderfarm.billing.budgets.BudgetStore on one table."""

    def __init__(self, table: TableClient):
        self._table = table
        self._table_made = False

    def budgets(self, tenant: str) -> list[Budget]:
        return self._query("PartitionKey eq @tenant", {"tenant": tenant})

    def all_budgets(self) -> list[Budget]:
        # Budget rows' PartitionKeys are bare tenants; threshold marks have a '|' in theirs.
        return [b for b in self._query("RowKey ge ''", {}) if "|" not in b.tenant]

    def set_budget(self, budget: Budget) -> None:
        entity = {
            "PartitionKey": budget.tenant,
            "RowKey": _row_key(budget.tag),
            "tag": budget.tag or "",
            "monthly_usd": float(budget.monthly_usd),
            "notify_at": ",".join(str(p) for p in budget.notify_at),
            "hold": budget.hold,
        }
        self._guarded(lambda: self._table.upsert_entity(entity, mode=UpdateMode.REPLACE))

    def remove_budget(self, tenant: str, tag: str | None) -> bool:
        def remove() -> bool:
            try:
                self._table.get_entity(tenant, _row_key(tag), select=["RowKey"])
            except ResourceNotFoundError:
                return False
            self._table.delete_entity(tenant, _row_key(tag))
            return True

        return bool(self._guarded(remove))

    def mark_threshold(self, budget: Budget, month: str, percent: int) -> bool:
        entity = {
            "PartitionKey": f"{budget.tenant}|thresholds",
            "RowKey": f"{month}|{value_key(budget.scope)}|{percent}",
        }

        def mark() -> bool:
            try:
                self._table.create_entity(entity)
            except ResourceExistsError:
                return False
            return True

        return bool(self._guarded(mark))

    def _query(self, query: str, parameters: dict[str, Any]) -> list[Budget]:
        def read() -> list[Budget]:
            rows = self._table.query_entities(query, parameters=parameters)
            return [_budget_of(row) for row in rows if "monthly_usd" in row]

        try:
            return list(self._guarded(read))
        except ResourceNotFoundError:
            return []

    def _guarded(self, call: Any) -> Any:
        try:
            self._make_table()
            return call()
        except ResourceNotFoundError:
            raise
        except (AzureError, OSError) as error:
            raise DependencyUnavailable("budgets", RETRY_AFTER_S, str(error)) from error

    def _make_table(self) -> None:
        """Where nothing made the table (Azurite; the Bicep makes it in Azure)."""
        if not self._table_made:
            with contextlib.suppress(ResourceExistsError):
                self._table.create_table()
            self._table_made = True

    def close(self) -> None:
        self._table.close()


def _budget_of(row: Any) -> Budget:
    notify = str(row.get("notify_at", ""))
    return Budget(
        tenant=str(row["PartitionKey"]),
        tag=str(row.get("tag", "")) or None,
        monthly_usd=float(row["monthly_usd"]),
        notify_at=tuple(int(p) for p in notify.split(",") if p),
        hold=bool(row.get("hold", True)),
    )
