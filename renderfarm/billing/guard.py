"""Where budgets act: before a chunk starts (hold), at a submit (refuse), after a settle (notify).

Each process keeps what it read for CACHE_S seconds, so a thousand workers starting chunks do not
each read the budgets and totals every time: a raised budget releases held chunks within that
time, and spending can pass a budget by at most what starts meanwhile (the chunks already running
finish, as they should).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

from renderfarm.billing.budgets import (
    Budget,
    BudgetExhausted,
    BudgetState,
    BudgetStore,
    applying,
    budget_states,
    thresholds_crossed,
)
from renderfarm.billing.ports import UsageTotals

CACHE_S = 15.0


def _today() -> date:
    return datetime.now(UTC).date()


class BudgetGuard:
    def __init__(
        self,
        *,
        store: BudgetStore,
        totals: UsageTotals,
        today: Callable[[], date] = _today,
        monotonic: Callable[[], float] = time.monotonic,
        cache_s: float = CACHE_S,
    ):
        self._store = store
        self._totals = totals
        self._today = today
        self._monotonic = monotonic
        self._cache_s = cache_s
        self._states: dict[str, tuple[float, date, list[BudgetState]]] = {}
        self._budgets: dict[str, tuple[float, list[Budget]]] = {}
        self._lock = threading.Lock()

    def holding(self, tenant: str, tags: Sequence[str]) -> BudgetState | None:
        """The spent budget that holds a job of ``tenant`` with ``tags``, if any."""
        for state in self._cached_states(tenant):
            if state.holds and state.budget in applying([state.budget], tags):
                return state
        return None

    def may_hold(self, tenant: str) -> bool:
        """Whether any budget of ``tenant`` holds now: if none does, no job of the tenant is held,
        whatever its tags (and its tags need not be read)."""
        return any(state.holds for state in self._cached_states(tenant))

    def check_submit(self, tenant: str, tags: Sequence[str]) -> None:
        """Refuse a new job (BudgetExhausted) while a budget that holds it is spent."""
        state = self.holding(tenant, tags)
        if state is not None:
            raise BudgetExhausted(state)

    def crossed(
        self, tenant: str, tags: Sequence[str], added_usd: float
    ) -> list[tuple[int, BudgetState]]:
        """After ``added_usd`` was added to the totals: each threshold it crossed, once a month
        across the farm (the store marks it), from the totals as they are now."""
        budgets = applying(self._cached_budgets(tenant), tags)
        if not budgets or added_usd <= 0:
            return []
        states = budget_states(budgets, self._totals, tenant=tenant, today=self._today())
        crossed = []
        for state in states:
            for percent in thresholds_crossed(state, added_usd):
                if self._store.mark_threshold(state.budget, state.month, percent):
                    crossed.append((percent, state))
        return crossed

    def forget(self, tenant: str) -> None:
        with self._lock:
            self._states.pop(tenant, None)
            self._budgets.pop(tenant, None)

    def _cached_budgets(self, tenant: str) -> list[Budget]:
        now = self._monotonic()
        with self._lock:
            cached = self._budgets.get(tenant)
        if cached is not None and now - cached[0] < self._cache_s:
            return cached[1]
        budgets = self._store.budgets(tenant)
        with self._lock:
            self._budgets[tenant] = (now, budgets)
        return budgets

    def _cached_states(self, tenant: str) -> list[BudgetState]:
        now, today = self._monotonic(), self._today()
        with self._lock:
            cached = self._states.get(tenant)
        if cached is not None and now - cached[0] < self._cache_s and cached[1] == today:
            return cached[2]
        budgets = self._cached_budgets(tenant)
        states = budget_states(budgets, self._totals, tenant=tenant, today=today) if budgets else []
        with self._lock:
            self._states[tenant] = (now, today, states)
        return states
