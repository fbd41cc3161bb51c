"""The usage page: the signed-in tenant's spending over a month, by day (a bar chart drawn on the
server as SVG) and by tag, job name and API key, from the same report as ``GET /api/usage``;
and the operator's budgets for the tenant with what each has spent this month (read only)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from dashboard.deps import SignedDep
from dashboard.pages import DashboardRoute, error_page, page
from dashboard.usage_view import (
    InvalidMonth,
    Month,
    budget_lines,
    day_chart,
    hours,
    lines,
)
from dashboard.views import usd
from renderfarm.billing.budgets import budget_states
from renderfarm.billing.ports import UsageTotals
from renderfarm.billing.report import GroupBy, usage_report
from web_deps.services import BudgetReader, BudgetReaderDep, KeptUsageDep

router = APIRouter(route_class=DashboardRoute)

#: The tables under the chart, each a grouping of the report.
TABLES = ((GroupBy.TAG, "tag"), (GroupBy.NAME, "job name"), (GroupBy.KEY, "API key"))


def today() -> date:
    return datetime.now(UTC).date()


@router.get("/usage", response_class=HTMLResponse)
def usage_page(
    request: Request,
    signed: SignedDep,
    totals: KeptUsageDep,
    budgets: BudgetReaderDep,
    month: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    now = today()
    try:
        picked = Month.parse(month, today=now)
    except InvalidMonth as error:
        return error_page(request, 422, "Invalid month", str(error))
    context: dict[str, Any] = {
        "signed": signed,
        "page": "usage",
        "month": picked,
        "previous": picked.previous(),
        "next": picked.next() if (picked.year, picked.month) < (now.year, now.month) else None,
        "kept": totals is not None,
    }
    if totals is not None:
        context.update(_month_usage(totals, signed.tenant, picked))
        context["budgets"] = _budgets(budgets, totals, signed.tenant, now)
    return page(request, "usage.html", context)


def _month_usage(totals: UsageTotals, tenant: str, month: Month) -> dict[str, Any]:
    def report(group_by: GroupBy) -> Any:
        return usage_report(
            totals, tenant=tenant, first=month.first, last=month.last, group_by=group_by
        )

    by_day = report(GroupBy.DAY)
    spent = by_day.total
    return {
        "chart": day_chart(by_day, month),
        "total_usd": usd(spent.usd),
        "total_hours": hours(spent.worker_s),
        "total_frames": spent.frames,
        "tables": [(group_by.value, title, lines(report(group_by))) for group_by, title in TABLES]
        if spent.usd > 0 or spent.frames > 0
        else [],
    }


def _budgets(reader: BudgetReader | None, totals: UsageTotals, tenant: str, now: date) -> list[Any]:
    if reader is None:
        return []
    found = reader.budgets(tenant)
    return budget_lines(budget_states(found, totals, tenant=tenant, today=now)) if found else []
