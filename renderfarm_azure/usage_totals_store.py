"""Running usage totals (renderfarm.billing) in Azure Table Storage (Azurite's Table service
locally).

One partition per tenant and month, ``<tenant>|<YYYY-MM>``; in it one entity per running total,
RowKey ``<dimension>|<value>|<DD>|<shard>``, with the properties ``worker_s``, ``frames``, ``usd``
and ``value`` (the value as given: the RowKey holds it escaped, or its hash when long). An
addition is one entity group transaction over the partition: the conditional update (If-Match on
each etag) or insert of each of its rows, and the insert of a marker ``applied|<id>``. A lost race
fails the whole transaction and is tried again on fresh reads; a marker that exists already means
the addition was applied before, and nothing is added twice.

Markers are small (no properties) and stay with their month; a month's partition can be dropped
whole once its usage no longer needs reading.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import time
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from renderfarm.billing.usage import Dimension, Spend, UsageAddition, UsageRow
from renderfarm.shared.errors import DependencyUnavailable

#: Tries at one addition before it is given up as contended (the settle is retried later).
MAX_ATTEMPTS = 40
BACKOFF_S = 0.01
BACKOFF_MAX_S = 0.2
#: Values longer than this, escaped, are kept in the RowKey by their hash (RowKeys hold 1 KiB).
MAX_KEY_VALUE = 256
RETRY_AFTER_S = 5
_MARKER = "applied"
_HIGHEST = "\U0010ffff"


def partition_key(tenant: str, month: str) -> str:
    return f"{tenant}|{month}"


def value_key(value: str) -> str:
    """A value as RowKeys may hold it: no '/', '\\', '#', '?' or control characters."""
    escaped = quote(value, safe="=-_.~ ")
    if len(escaped) > MAX_KEY_VALUE:
        return "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    return escaped


def row_key(row: UsageRow) -> str:
    return f"{row.dimension}|{value_key(row.value)}|{row.day:02d}|{row.shard:02d}"


class TableUsageTotals:
    """renderfarm.billing.ports.UsageTotals on one table."""

    def __init__(self, table: TableClient):
        self._table = table
        self._table_made = False

    def add(self, addition: UsageAddition) -> bool:
        partition = partition_key(addition.owner.tenant, addition.month)
        try:
            self._make_table()
            for attempt in range(MAX_ATTEMPTS):
                outcome = self._try_add(partition, addition)
                if outcome is not None:
                    return outcome
                time.sleep(random.uniform(0, min(BACKOFF_MAX_S, BACKOFF_S * 2**attempt)))  # noqa: S311
        except (AzureError, OSError) as error:
            raise DependencyUnavailable("usage totals", RETRY_AFTER_S, str(error)) from error
        raise DependencyUnavailable(
            "usage totals", RETRY_AFTER_S, f"lost {MAX_ATTEMPTS} races adding {addition.id}"
        )

    def _try_add(self, partition: str, addition: UsageAddition) -> bool | None:
        """True when added, False when added before, None when a race was lost."""
        marker = f"{_MARKER}|{value_key(addition.id)}"
        operations: list[Any] = [("create", {"PartitionKey": partition, "RowKey": marker})]
        for row, spend in sorted(addition.rows().items()):
            operations.append(self._operation(partition, row, spend))
        try:
            self._table.submit_transaction(operations)
        except TableTransactionError:
            if self._exists(partition, marker):
                return False
            return None
        return True

    def _make_table(self) -> None:
        """Where nothing made the table (Azurite; the Bicep makes it in Azure)."""
        if not self._table_made:
            with contextlib.suppress(ResourceExistsError):
                self._table.create_table()
            self._table_made = True

    def _operation(self, partition: str, row: UsageRow, spend: Spend) -> tuple[Any, ...]:
        key = row_key(row)
        try:
            entity = self._table.get_entity(partition, key)
        except ResourceNotFoundError:
            fields = _fields(row, spend)
            return ("create", {"PartitionKey": partition, "RowKey": key, **fields})
        fields = _fields(row, _spend_of(entity) + spend)
        return (
            "update",
            {"PartitionKey": partition, "RowKey": key, **fields},
            {
                "mode": UpdateMode.MERGE,
                "etag": entity.metadata["etag"],
                "match_condition": MatchConditions.IfNotModified,
            },
        )

    def _exists(self, partition: str, key: str) -> bool:
        try:
            self._table.get_entity(partition, key, select=["RowKey"])
        except ResourceNotFoundError:
            return False
        return True

    def rows(
        self, tenant: str, month: str, dimension: Dimension, value: str | None = None
    ) -> list[tuple[UsageRow, Spend]]:
        prefix = f"{dimension}|" + ("" if value is None else f"{value_key(value)}|")
        query = "PartitionKey eq @partition and RowKey ge @low and RowKey lt @high"
        parameters = {
            "partition": partition_key(tenant, month),
            "low": prefix,
            "high": prefix + _HIGHEST,
        }
        try:
            entities = list(self._table.query_entities(query, parameters=parameters))
        except ResourceNotFoundError:
            return []  # no table yet: nothing was ever added
        except (AzureError, OSError) as error:
            raise DependencyUnavailable("usage totals", RETRY_AFTER_S, str(error)) from error
        return [(_row_of(entity, dimension), _spend_of(entity)) for entity in entities]

    def close(self) -> None:
        self._table.close()


def _fields(row: UsageRow, spend: Spend) -> dict[str, Any]:
    return {
        "value": row.value,
        "worker_s": float(spend.worker_s),
        "frames": int(spend.frames),
        "usd": float(spend.usd),
    }


def _spend_of(entity: Any) -> Spend:
    return Spend(
        worker_s=float(entity.get("worker_s", 0.0)),
        frames=int(entity.get("frames", 0)),
        usd=float(entity.get("usd", 0.0)),
    )


def _row_of(entity: Any, dimension: Dimension) -> UsageRow:
    _, _, day, shard = str(entity["RowKey"]).rsplit("|", 3)
    return UsageRow(
        dimension=dimension, value=str(entity.get("value", "")), day=int(day), shard=int(shard)
    )
