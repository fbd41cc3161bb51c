"""The tenant's usage: ``GET /api/usage`` reads the running totals (renderfarm.billing.report),
never the jobs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from functions.deps import TenantDep
from functions.openapi import answers
from renderfarm.billing.report import MAX_REPORT_DAYS, GroupBy, UsageReport, usage_report
from renderfarm.billing.usage import Spend
from renderfarm.wire import UsageAnswer, UsageLine
from web_deps.services import UsageTotalsDep

router = APIRouter(tags=["usage"])

_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _full_date(value: Any) -> Any:
    """Only what ``format: date`` says (RFC 3339's full-date): pydantic alone would also take a
    number of seconds (``to=0``) or a time at midnight."""
    if isinstance(value, str) and not _FULL_DATE.fullmatch(value):
        raise ValueError("a date is YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_full_date)]


def today() -> date:
    return datetime.now(UTC).date()


def usage_span(first: date | None, last: date | None, *, now: date) -> tuple[date, date]:
    """The days a report covers: ``to`` defaults to today, ``from`` to the first of its month
    (so no bounds at all: this month so far)."""
    last = last or now
    return first or last.replace(day=1), last


def usage_answer(report: UsageReport) -> UsageAnswer:
    return UsageAnswer(
        first_day=report.first.isoformat(),
        last_day=report.last.isoformat(),
        group_by=report.group_by.value,
        groups=tuple(_line(group.key, group.spend) for group in report.groups),
        total=_line("total", report.total),
    )


def _line(key: str, spend: Spend) -> UsageLine:
    return UsageLine(key=key, worker_s=round(spend.worker_s, 3), frames=spend.frames, usd=spend.usd)


@router.get(
    "/usage",
    response_model=UsageAnswer,
    responses=answers(
        200,
        errors={
            403: f"A span longer than {MAX_REPORT_DAYS} days (`farm-limit`, naming `from`)",
            422: (
                "A malformed date, a `group_by` that is not day, tag, name or key, or a `from` "
                "after `to` (`validation`, naming the field)"
            ),
            503: "The usage totals' table failed or was slow (`unavailable`): call again",
        },
    ),
)
def usage(
    *,
    tenant: TenantDep,
    totals: UsageTotalsDep,
    first: Annotated[
        Day | None,
        Query(
            alias="from",
            description=(
                "the first day (YYYY-MM-DD, UTC), not after `to`; default: the 1st of `to`'s month"
            ),
        ),
    ] = None,
    last: Annotated[
        Day | None,
        Query(alias="to", description="the last day, included (YYYY-MM-DD, UTC); default: today"),
    ] = None,
    group_by: Annotated[GroupBy, Query(description="how the lines are grouped")] = GroupBy.DAY,
) -> UsageAnswer:
    """Worker-seconds, frames and USD the caller's tenant spent over a span of days, by day,
    tag, job name or API key, from the running totals written as chunks settle (a job's USD is
    its status's ``cost.estimated_usd``)."""
    first, last = usage_span(first, last, now=today())
    report = usage_report(totals, tenant=tenant, first=first, last=last, group_by=group_by)
    return usage_answer(report)
