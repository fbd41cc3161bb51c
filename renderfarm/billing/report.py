"""The usage report: a tenant's worker-seconds, frames and USD over a span of days, grouped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from renderfarm.billing.ports import UsageTotals
from renderfarm.billing.usage import (
    Dimension,
    Spend,
    months_between,
    total,
    totals_by_day,
    totals_by_value,
)
from renderfarm.shared.errors import DomainError, FarmLimitExceeded

#: The longest span one report reads: a year of days, so a report is bounded in reads.
MAX_REPORT_DAYS = 366


class GroupBy(StrEnum):
    DAY = "day"
    TAG = "tag"
    NAME = "name"
    KEY = "key"


class InvalidUsageSpan(DomainError, ValueError):
    """A report span that ends before it starts."""

    status, slug, title = 422, "validation", "Invalid request"
    field = ("from", "query")


class UsageSpanTooLong(FarmLimitExceeded):
    """A report span longer than MAX_REPORT_DAYS: the farm bounds the reads of one report."""

    field = ("from", "query")


@dataclass(frozen=True, kw_only=True)
class UsageGroup:
    key: str
    spend: Spend


@dataclass(frozen=True, kw_only=True)
class UsageReport:
    first: date
    last: date
    group_by: GroupBy
    groups: tuple[UsageGroup, ...]
    #: The tenant's total over the span (a job's tags overlap, so tag groups may add up to more).
    total: Spend


def usage_report(
    totals: UsageTotals, *, tenant: str, first: date, last: date, group_by: GroupBy
) -> UsageReport:
    """The report from the running totals: one read of each month's rows of the dimension."""
    if first > last:
        raise InvalidUsageSpan(f"from {first} is after to {last}")
    if last - first >= timedelta(days=MAX_REPORT_DAYS):
        raise UsageSpanTooLong(f"a report spans at most {MAX_REPORT_DAYS} days")
    grouped: dict[str, Spend] = {}
    overall = Spend()
    for month in months_between(first, last):
        days = totals_by_day(
            totals.rows(tenant, month, Dimension.DAY), month=month, first=first, last=last
        )
        overall += total(days)
        if group_by is GroupBy.DAY:
            found = days
        else:
            rows = totals.rows(tenant, month, Dimension(group_by.value))
            found = totals_by_value(rows, month=month, first=first, last=last)
        for key, spend in found.items():
            grouped[key] = grouped.get(key, Spend()) + spend
    groups = tuple(UsageGroup(key=key, spend=grouped[key]) for key in sorted(grouped))
    return UsageReport(first=first, last=last, group_by=group_by, groups=groups, total=overall)
