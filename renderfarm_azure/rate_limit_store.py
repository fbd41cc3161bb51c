"""The shared rate-limit counters in Azure Table Storage (Azurite's Table service locally).

One entity per (key, window): PartitionKey ``<YYYYMMDD>-<key>`` (the window's UTC day, then the
key id: the sha256 of the API key), RowKey the window's start in Unix seconds, one property
``count``. A key's counters for a day share a partition, and every key has its own: no partition
carries the whole farm's traffic. The writes to one entity are bounded by the limit itself (see
renderfarm.keys.rate_limit), far under Table Storage's per-partition target (2,000 entities/s).

An increment reads the entity and writes it back with If-Match on its etag (a lost race is a 412
and a new read); a missing entity is inserted (a lost race is a 409 and a new read). At most
``MAX_ATTEMPTS`` tries, then CounterContended: that one request is limited in-process. A process
remembers the count and etag it wrote last for each key, and its next increment of that window
writes on them without the read: one request, not two, while no other instance counted between
(one that did makes it a 412, and a read as before).

Old windows: Table Storage has no TTL. The day leads the PartitionKey, so the counters of days
before yesterday are one range query (``PartitionKey lt '<YYYYMMDD>'``, an index range, not a
scan of today's entities); each process deletes them in the background on the first count of
each UTC day it sees (instances racing on a delete find it gone, which is fine). What is left
between two purges is at most two days of counters: per key, at most 1,440 entities of about
100 bytes a day.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, UpdateMode

from renderfarm.keys.rate_limit import (
    CounterContended,
    CounterStoreUnavailable,
    Limiter,
    RateLimiter,
    SharedRateLimiter,
    Window,
)
from renderfarm.shared.settings import Settings
from renderfarm_azure import clients

logger = logging.getLogger(__name__)

#: Tries to win the race on one counter before the request is limited in-process instead.
MAX_ATTEMPTS = 8
#: The pause after a lost race: random, up to this doubled per try, at most BACKOFF_MAX_S.
BACKOFF_S = 0.005
BACKOFF_MAX_S = 0.1
#: Bounds on each call: a slow store costs a request at most this, then the API fails open.
TABLE_CONNECT_TIMEOUT_S = 1
TABLE_READ_TIMEOUT_S = 2
#: Counters of this many days before today are purged (yesterday's last windows stay).
KEEP_DAYS = 1
#: Keys whose last write a process remembers (one entry per key and day: a few bytes each).
MAX_REMEMBERED = 10_000


def partition_key(key: str, window: Window) -> str:
    return f"{_day(window.start):%Y%m%d}-{key}"


def row_key(window: Window) -> str:
    return f"{window.start:010d}"


def _day(epoch_seconds: int) -> date:
    return datetime.fromtimestamp(epoch_seconds, UTC).date()


class TableCounterStore:
    """renderfarm.keys.rate_limit.CounterStore on one table."""

    def __init__(self, *, table: TableClient, purge: bool = True):
        self._table = table
        self._purge = purge
        self._purged_day: date | None = None
        self._lock = threading.Lock()
        #: Per partition (a key's day), the row, count and etag this process wrote last.
        self._written: dict[str, tuple[str, int, str]] = {}

    def increment(self, *, key: str, window: Window) -> int:
        try:
            count = self._increment(partition_key(key, window), row_key(window))
        except (ResourceModifiedError, ResourceExistsError) as error:
            raise CounterContended(str(error)) from error
        except (AzureError, OSError) as error:
            raise CounterStoreUnavailable(f"{type(error).__name__}: {error}") from error
        self._maybe_purge(_day(window.start))
        return count

    def _increment(self, partition: str, row: str) -> int:
        written = self._written.get(partition)
        if written is not None and written[0] == row:
            _, count, etag = written
            # Another instance counted since (412), or the entity is gone (404): read.
            with contextlib.suppress(ResourceModifiedError, ResourceNotFoundError):
                return self._write(partition, row, count + 1, etag)
        for attempt in range(MAX_ATTEMPTS):
            try:
                entity = self._table.get_entity(partition, row, select=["count"])
            except ResourceNotFoundError as error:
                if _is_missing_table(error):
                    self._create_table()
                    continue
                if self._insert_first(partition, row):
                    return 1
                continue
            try:
                count = int(entity["count"]) + 1
                return self._write(partition, row, count, str(entity.metadata["etag"]))
            except ResourceModifiedError:
                _back_off(attempt)  # another instance counted first: read again
        raise CounterContended(f"lost {MAX_ATTEMPTS} races on {partition}/{row}")

    def _write(self, partition: str, row: str, count: int, etag: str) -> int:
        """``count`` if the entity is still at ``etag``, else ResourceModifiedError."""
        answer = self._table.update_entity(
            {"PartitionKey": partition, "RowKey": row, "count": count},
            mode=UpdateMode.MERGE,
            etag=etag,
            match_condition=MatchConditions.IfNotModified,
        )
        self._remember(partition, row, count, answer)
        return count

    def _insert_first(self, partition: str, row: str) -> bool:
        try:
            answer = self._table.create_entity(
                {"PartitionKey": partition, "RowKey": row, "count": 1}
            )
        except ResourceExistsError:
            return False  # another instance inserted it first: read it
        self._remember(partition, row, 1, answer)
        return True

    def _remember(self, partition: str, row: str, count: int, answer: Mapping[str, Any]) -> None:
        etag = answer.get("etag")
        if not etag:
            self._written.pop(partition, None)
            return
        if len(self._written) >= MAX_REMEMBERED and partition not in self._written:
            self._written.clear()  # a new day's keys: yesterday's partitions are done with
        self._written[partition] = (row, count, str(etag))

    def _create_table(self) -> None:
        """Where nothing made the table (Azurite; Bicep makes it in Azure)."""
        with contextlib.suppress(ResourceExistsError):
            self._table.create_table()

    def _maybe_purge(self, today: date) -> None:
        if not self._purge:
            return
        with self._lock:
            if self._purged_day == today:
                return
            self._purged_day = today
        thread = threading.Thread(
            target=self._purge_quietly, args=(today,), name="rate-limit-purge", daemon=True
        )
        thread.start()

    def _purge_quietly(self, today: date) -> None:
        try:
            deleted = self.purge_before(today - timedelta(days=KEEP_DAYS))
        except (AzureError, OSError) as error:
            logger.warning("rate-limit counters not purged (%s); the next day's purge will", error)
            return
        if deleted:
            logger.info("rate-limit counters: %d of old windows deleted", deleted)

    def purge_before(self, day: date) -> int:
        """Delete every counter of a window before ``day`` (UTC); how many were deleted."""
        old = self._table.query_entities(
            "PartitionKey lt @day",
            parameters={"day": f"{day:%Y%m%d}"},
            select=["PartitionKey", "RowKey"],
        )
        deleted = 0
        for entity in old:
            self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
            deleted += 1
        return deleted

    def close(self) -> None:
        self._table.close()


def _back_off(attempt: int) -> None:
    """A random pause after a lost race, so the racers do not meet again at once."""
    time.sleep(random.uniform(0, min(BACKOFF_MAX_S, BACKOFF_S * 2**attempt)))  # noqa: S311


def _is_missing_table(error: ResourceNotFoundError) -> bool:
    return getattr(error, "error_code", None) == "TableNotFound"


def table_client(settings: Settings) -> TableClient | None:
    """The rate-limit table, or None where no table store is configured."""
    # No retry: the API fails open at once instead; a retry would hold every request for its
    # backoff.
    return clients.farm_table(
        settings,
        settings.rate_limit_table,
        connect_timeout_s=TABLE_CONNECT_TIMEOUT_S,
        read_timeout_s=TABLE_READ_TIMEOUT_S,
        retries=0,
    )


def rate_limiter(
    settings: Settings, *, wall_clock: Callable[[], float], monotonic: Callable[[], float]
) -> Limiter:
    """The farm-wide limiter where a table is configured, else the in-process one."""
    local = RateLimiter(per_minute=settings.rate_limit_per_minute, clock=monotonic)
    table = table_client(settings)
    if table is None:
        return local
    return SharedRateLimiter(
        store=TableCounterStore(table=table),
        per_minute=settings.rate_limit_per_minute,
        clock=wall_clock,
        fallback=local,
        retry_seconds=settings.rate_limit_store_retry_seconds,
    )
