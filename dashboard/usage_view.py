"""What the usage page shows of a month's report: the month picked, the bar chart by day as
geometry for an inline SVG (drawn by the template: no script, no inline style, so the CSP stays),
and lines of a table. The report itself comes from renderfarm.billing.report, as the API's."""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import date

from dashboard.views import usd
from renderfarm.billing.budgets import BudgetState
from renderfarm.billing.report import UsageReport

_MONTH = re.compile(r"(\d{4})-(\d{2})")

#: The chart's drawing box (the SVG's viewBox: it scales to the page's width).
CHART_WIDTH, CHART_HEIGHT = 720, 240
#: Room for the USD labels on the left and the day numbers below.
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 12, 28
#: The horizontal grid lines, the baseline included.
TICKS = 4


class InvalidMonth(ValueError):
    """A month that is not YYYY-MM (01 to 12)."""


@dataclass(frozen=True, kw_only=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str | None, *, today: date) -> Month:
        """``YYYY-MM``; none (or blank, as an emptied form sends it): this month."""
        if text is None or not text.strip():
            return cls(year=today.year, month=today.month)
        found = _MONTH.fullmatch(text.strip())
        shown = repr(text) if len(text) <= 20 else "that"
        if found is None:
            raise InvalidMonth(f"{shown} is not a month: give it as YYYY-MM, say 2026-12")
        year, month = int(found.group(1)), int(found.group(2))
        if not 1 <= month <= 12 or year < 1:
            raise InvalidMonth(f"{shown} is not a month: give it as YYYY-MM, the month 01 to 12")
        return cls(year=year, month=month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def title(self) -> str:
        return f"{calendar.month_name[self.month]} {self.year}"

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def previous(self) -> Month | None:
        if (self.year, self.month) == (1, 1):
            return None
        if self.month == 1:
            return Month(year=self.year - 1, month=12)
        return Month(year=self.year, month=self.month - 1)

    def next(self) -> Month | None:
        if (self.year, self.month) == (9999, 12):
            return None
        if self.month == 12:
            return Month(year=self.year + 1, month=1)
        return Month(year=self.year, month=self.month + 1)


@dataclass(frozen=True, kw_only=True)
class Bar:
    day: str
    x: float
    y: float
    width: float
    height: float
    #: The hover text (the bar's <title>).
    label: str


@dataclass(frozen=True, kw_only=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, kw_only=True)
class DayLabel:
    x: float
    label: str


@dataclass(frozen=True, kw_only=True)
class Chart:
    width: int
    height: int
    left: int
    right: float
    baseline: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    days: tuple[DayLabel, ...]
    #: What the chart says, for a screen reader.
    summary: str


def nice_ceiling(value: float) -> float:
    """The chart's top: 1, 2, 2.5 or 5 times a power of ten, at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def axis_usd(amount: float, top: float) -> str:
    """A scale's label: cents, or as many decimals as a scale under ten cents needs."""
    if amount == 0:
        return "$0"
    step = top / TICKS
    decimals = 2 if step >= 0.01 else min(8, math.ceil(-math.log10(step)) + 1)
    return f"${amount:,.{decimals}f}"


def day_chart(report: UsageReport, month: Month) -> Chart:
    """One bar per day that spent anything (the report grouped by day), on a USD scale."""
    by_day = {group.key: group.spend for group in report.groups}
    top = nice_ceiling(max((spend.usd for spend in by_day.values()), default=0.0))
    count = month.last.day
    slot = (CHART_WIDTH - LEFT - RIGHT) / count
    plot = CHART_HEIGHT - TOP - BOTTOM
    baseline = TOP + plot
    bars, labels = [], []
    for number in range(1, count + 1):
        day = date(month.year, month.month, number).isoformat()
        x = LEFT + (number - 1) * slot
        labels.append(DayLabel(x=round(x + slot / 2, 2), label=str(number)))
        spend = by_day.get(day)
        if spend is None or spend.usd <= 0:
            continue
        height = max(plot * spend.usd / top, 1.0)  # a cent still shows
        bars.append(
            Bar(
                day=day,
                x=round(x + slot * 0.15, 2),
                y=round(baseline - height, 2),
                width=round(slot * 0.7, 2),
                height=round(height, 2),
                label=(
                    f"{day}: {usd(spend.usd)}, {hours(spend.worker_s)} worker-hours, "
                    f"{spend.frames} frames"
                ),
            )
        )
    ticks = tuple(
        Tick(y=round(baseline - plot * step / TICKS, 2), label=axis_usd(top * step / TICKS, top))
        for step in range(TICKS + 1)
    )
    summary = (
        f"USD spent each day of {month.title}: {usd(report.total.usd)} in all, "
        f"on {len(bars)} day{'s' if len(bars) != 1 else ''}"
    )
    return Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        left=LEFT,
        right=CHART_WIDTH - RIGHT,
        baseline=baseline,
        bars=tuple(bars),
        ticks=ticks,
        days=tuple(labels),
        summary=summary,
    )


@dataclass(frozen=True, kw_only=True)
class Line:
    key: str
    usd: str
    worker_s: str
    frames: int


def lines(report: UsageReport) -> list[Line]:
    """The report's groups as table rows, the costliest first."""
    groups = sorted(report.groups, key=lambda group: (-group.spend.usd, group.key))
    return [
        Line(
            key=group.key,
            usd=usd(group.spend.usd),
            worker_s=f"{group.spend.worker_s:,.1f}",
            frames=group.spend.frames,
        )
        for group in groups
    ]


@dataclass(frozen=True, kw_only=True)
class BudgetLine:
    scope: str
    month: str
    monthly: str
    spent: str
    percent: str
    #: The percentage a <meter> shows (at most 100).
    meter: float
    #: How full: ``ok``, ``near`` (past its first threshold) or ``spent`` (for the CSS class).
    level: str
    holds: bool


def budget_lines(states: list[BudgetState]) -> list[BudgetLine]:
    return [
        BudgetLine(
            scope="the whole tenant" if state.budget.tag is None else state.budget.tag,
            month=state.month,
            monthly=usd(state.budget.monthly_usd),
            spent=usd(state.spent_usd),
            percent="∞ %" if math.isinf(state.percent) else f"{state.percent:.0f} %",
            meter=round(min(state.percent, 100.0), 1),
            level=_level(state),
            holds=state.holds,
        )
        for state in states
    ]


def _level(state: BudgetState) -> str:
    if state.exhausted:
        return "spent"
    first = min(state.budget.notify_at, default=100)
    return "near" if state.percent >= first else "ok"


def hours(worker_s: float) -> str:
    return f"{worker_s / 3600:,.2f}"
