"""A tenant's usage as running totals: what each settled chunk attempt adds, by day, tag, job name
and API key, so that a month's usage is read from its totals and never by reading every job.

The totals are kept per tenant and month (one partition) in rows per dimension, value and day.
Each row is also split over ``USAGE_SHARDS`` shards, picked by the writing worker, so that a
thousand workers settling chunks of one tenant do not all write one row: a row takes the writes of
about a sixteenth of them. A reader sums a value's shards.

An attempt's addition is applied once (renderfarm.billing.ports.UsageTotals marks it applied in
the same transaction), so a settle that runs again after a crash adds nothing the second time.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

#: Rows of one value per day are split this many ways (see the module's docstring).
USAGE_SHARDS = 8


class Dimension(StrEnum):
    """What usage is grouped by. DAY's value is empty: it is the tenant's total for the day."""

    DAY = "day"
    TAG = "tag"
    NAME = "name"
    KEY = "key"


@dataclass(frozen=True, kw_only=True)
class Spend:
    """Worker-seconds, frames and USD, as the cost model (renderfarm.jobs.cost) prices them."""

    worker_s: float = 0.0
    frames: int = 0
    usd: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            worker_s=self.worker_s + other.worker_s,
            frames=self.frames + other.frames,
            usd=self.usd + other.usd,
        )

    def to_dict(self) -> dict[str, float | int]:
        return {"worker_s": round(self.worker_s, 3), "frames": self.frames, "usd": self.usd}


@dataclass(frozen=True, kw_only=True)
class Attribution:
    """Whose a job's spending is: the labels usage is grouped by."""

    tenant: str
    name: str = ""
    tags: tuple[str, ...] = ()
    submitted_by: str = ""


@dataclass(frozen=True, kw_only=True)
class UsageAddition:
    """What one settled chunk attempt (or one job's fixed costs) adds to its tenant's totals."""

    #: Names the addition, so that it is applied once: ``<job>/<chunk>/<attempt>`` or
    #: ``<job>/job``.
    id: str
    owner: Attribution
    at: datetime
    spend: Spend
    #: The worker that settled it: picks the shard its rows are written in.
    writer: str = ""

    @property
    def month(self) -> str:
        return month_of(self.at.date())

    @property
    def shard(self) -> int:
        return zlib.crc32(self.writer.encode()) % USAGE_SHARDS

    def rows(self) -> dict[UsageRow, Spend]:
        """Each row the addition adds ``spend`` to: the day's total, each tag, name and key."""
        day = self.at.day
        labels: list[tuple[Dimension, str]] = [(Dimension.DAY, "")]
        labels += [(Dimension.TAG, tag) for tag in dict.fromkeys(self.owner.tags)]
        if self.owner.name:
            labels.append((Dimension.NAME, self.owner.name))
        if self.owner.submitted_by:
            labels.append((Dimension.KEY, self.owner.submitted_by))
        return {
            UsageRow(dimension=dimension, value=value, day=day, shard=self.shard): self.spend
            for dimension, value in labels
        }


@dataclass(frozen=True, kw_only=True, order=True)
class UsageRow:
    """One running total: a dimension's value on one day of the month, in one shard."""

    dimension: Dimension
    value: str
    day: int
    shard: int


def month_of(day: date) -> str:
    """The month a day's usage is kept under: ``2026-12``."""
    return f"{day:%Y-%m}"


def months_between(first: date, last: date) -> list[str]:
    """Every month from ``first``'s to ``last``'s, in order."""
    months, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def totals_by_value(
    rows: Iterable[tuple[UsageRow, Spend]], *, month: str, first: date, last: date
) -> dict[str, Spend]:
    """Sum rows of one month by value, over the days from ``first`` to ``last`` (inclusive)."""
    return _summed(rows, month, first, last, key=lambda row, _: row.value)


def totals_by_day(
    rows: Iterable[tuple[UsageRow, Spend]], *, month: str, first: date, last: date
) -> dict[str, Spend]:
    """Sum DAY rows of one month by their date (``2026-12-07``), from ``first`` to ``last``."""
    return _summed(rows, month, first, last, key=lambda _, day: day.isoformat())


def _summed(
    rows: Iterable[tuple[UsageRow, Spend]],
    month: str,
    first: date,
    last: date,
    *,
    key: Callable[[UsageRow, date], str],
) -> dict[str, Spend]:
    totals: dict[str, Spend] = {}
    for row, spend in rows:
        day = date.fromisoformat(f"{month}-{row.day:02d}")
        if first <= day <= last:
            name = key(row, day)
            totals[name] = totals.get(name, Spend()) + spend
    return totals


def total(spends: Mapping[str, Spend]) -> Spend:
    return sum(spends.values(), Spend())
