"""Monthly budgets and what they do as spending reaches them.

The farm's operator sets them (``renderfarm budgets``, through the farm's storage: a tenant's API
key never can): a tenant's monthly budget in USD, and optionally one per tag. Each has threshold
percentages at which a ``budget.threshold`` event is sent once a month, and at 100 % by default
it holds the tenant's (or the tag's) chunks: none starts until the budget is raised or the month
turns over. Spending is read from the running usage totals (renderfarm.billing.usage).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from renderfarm.billing.ports import UsageTotals
from renderfarm.billing.usage import Dimension, month_of
from renderfarm.shared.errors import DomainError

#: The threshold percentages a budget gets when none are given.
DEFAULT_NOTIFY_AT = (80,)
#: The most a budget may be, in USD a month (a bound on typing errors, not on spending).
MAX_BUDGET_USD = 10_000_000.0


class BudgetError(DomainError, ValueError):
    """A budget the operator cannot set."""

    status, slug, title = 422, "validation", "Invalid request"
    field = ("monthly_usd", "body")


@dataclass(frozen=True, kw_only=True)
class Budget:
    tenant: str
    #: None: the tenant's whole spending; else the spending of the jobs carrying this tag.
    tag: str | None
    monthly_usd: float
    notify_at: tuple[int, ...] = DEFAULT_NOTIFY_AT
    #: At 100 %, no new chunk of the tenant (or tag) starts.
    hold: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.monthly_usd) and 0 <= self.monthly_usd <= MAX_BUDGET_USD):
            raise BudgetError(f"a budget is 0 to {MAX_BUDGET_USD:,.0f} USD a month")
        if any(not 1 <= percent <= 100 for percent in self.notify_at):
            raise BudgetError("threshold percentages are 1 to 100")

    @property
    def scope(self) -> str:
        """How the budget is named: ``tenant`` or ``tag:project=forest``."""
        return "tenant" if self.tag is None else f"tag:{self.tag}"


@dataclass(frozen=True, kw_only=True)
class BudgetState:
    budget: Budget
    month: str
    spent_usd: float

    @property
    def percent(self) -> float:
        if self.budget.monthly_usd == 0:
            return math.inf if self.spent_usd > 0 else 100.0
        return 100.0 * self.spent_usd / self.budget.monthly_usd

    @property
    def exhausted(self) -> bool:
        return self.spent_usd >= self.budget.monthly_usd

    @property
    def holds(self) -> bool:
        return self.budget.hold and self.exhausted

    @property
    def resets_at(self) -> datetime:
        return month_start_after(self.month)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.budget.scope,
            "tag": self.budget.tag,
            "monthly_usd": self.budget.monthly_usd,
            "spent_usd": round(self.spent_usd, 6),
            "month": self.month,
            "resets_at": self.resets_at.isoformat().replace("+00:00", "Z"),
        }


class BudgetExhausted(DomainError):
    """A submit while a budget that holds is spent: nothing new starts until it resets."""

    status, slug, title = 402, "budget-exhausted", "Budget exhausted"
    field = None

    def __init__(self, state: BudgetState):
        super().__init__(
            f"the {state.budget.scope} budget of {state.budget.monthly_usd:.2f} USD for "
            f"{state.month} is spent ({state.spent_usd:.2f} USD); it resets at "
            f"{state.resets_at:%Y-%m-%d %H:%M} UTC, or when the farm's operator raises it"
        )
        self.state = state

    def problem_extra(self) -> Mapping[str, Any]:
        return {"budget": self.state.to_dict()}


class BudgetStore(Protocol):
    def budgets(self, tenant: str) -> list[Budget]: ...

    def set_budget(self, budget: Budget) -> None: ...

    def remove_budget(self, tenant: str, tag: str | None) -> bool: ...

    def all_budgets(self) -> list[Budget]: ...

    def mark_threshold(self, budget: Budget, month: str, percent: int) -> bool:
        """True the first time, for one budget, month and percentage: the event is sent once."""
        ...


def month_start_after(month: str) -> datetime:
    year, number = (int(part) for part in month.split("-"))
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return datetime(year, number, 1, tzinfo=UTC)


def budget_states(
    budgets: Iterable[Budget], totals: UsageTotals, *, tenant: str, today: date
) -> list[BudgetState]:
    """Each budget with what its scope has spent this month (one read per budget)."""
    month = month_of(today)
    states = []
    for budget in budgets:
        if budget.tag is None:
            rows = totals.rows(tenant, month, Dimension.DAY)
        else:
            rows = totals.rows(tenant, month, Dimension.TAG, budget.tag)
        spent = sum(spend.usd for _, spend in rows)
        states.append(BudgetState(budget=budget, month=month, spent_usd=spent))
    return states


def applying(budgets: Iterable[Budget], tags: Sequence[str]) -> list[Budget]:
    """The budgets a job's spending counts against: the tenant's and its tags'."""
    return [budget for budget in budgets if budget.tag is None or budget.tag in tags]


def thresholds_crossed(state: BudgetState, added_usd: float) -> list[int]:
    """The percentages spending crossed when ``added_usd`` brought it to ``state.spent_usd``."""
    if state.budget.monthly_usd == 0:
        return []
    before = 100.0 * (state.spent_usd - added_usd) / state.budget.monthly_usd
    return [p for p in sorted(set(state.budget.notify_at)) if before < p <= state.percent]
