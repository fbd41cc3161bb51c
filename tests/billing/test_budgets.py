"""Budgets in Azurite's Table service, and what the guard does with them: a spent budget holds
its tenant's or tag's jobs and refuses their submits; thresholds are announced once a month."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from azure.data.tables import TableClient
from click.testing import CliRunner

from renderfarm.billing.budgets import Budget, BudgetError, BudgetExhausted
from renderfarm.billing.guard import BudgetGuard
from renderfarm.billing.usage import Attribution, Spend, UsageAddition
from renderfarm_azure.budget_store import TableBudgetStore
from renderfarm_azure.usage_totals_store import TableUsageTotals
from renderfarm_cli.command import cli
from testbed.emulators import AzuriteTable, run_azurite_table

TODAY = date(2026, 12, 7)
_ids = itertools.count()


@pytest.fixture(scope="module")
def table_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteTable]:
    with run_azurite_table(Path(tmp_path_factory.mktemp("table"))) as service:
        yield service


def table(service: AzuriteTable, prefix: str) -> TableClient:
    return TableClient.from_connection_string(
        service.connection_string, table_name=prefix + uuid.uuid4().hex[:10]
    )


@pytest.fixture
def budgets(table_service: AzuriteTable) -> TableBudgetStore:
    return TableBudgetStore(table(table_service, "budgets"))


@pytest.fixture
def totals(table_service: AzuriteTable) -> TableUsageTotals:
    return TableUsageTotals(table(table_service, "usage"))


def guard(budgets: TableBudgetStore, totals: TableUsageTotals) -> BudgetGuard:
    return BudgetGuard(store=budgets, totals=totals, today=lambda: TODAY, cache_s=0)


def spend(totals: TableUsageTotals, usd: float, *tags: str, tenant: str = "acme") -> None:
    totals.add(
        UsageAddition(
            id=f"job/{next(_ids)}/1",
            owner=Attribution(tenant=tenant, tags=tags),
            at=datetime(2026, 12, 7, 12, tzinfo=UTC),
            spend=Spend(worker_s=1.0, frames=1, usd=usd),
        )
    )


def test_budgets_are_set_listed_replaced_and_removed(budgets: TableBudgetStore) -> None:
    budgets.set_budget(Budget(tenant="acme", tag=None, monthly_usd=100.0))
    budgets.set_budget(Budget(tenant="acme", tag="project=forest", monthly_usd=5.0, hold=False))
    budgets.set_budget(Budget(tenant="acme", tag="project=forest", monthly_usd=7.5))
    budgets.set_budget(Budget(tenant="globex", tag=None, monthly_usd=1.0, notify_at=(50, 90)))
    assert sorted((b.tag or "", b.monthly_usd, b.hold) for b in budgets.budgets("acme")) == [
        ("", 100.0, True),
        ("project=forest", 7.5, True),
    ]
    assert {b.tenant for b in budgets.all_budgets()} == {"acme", "globex"}
    assert budgets.remove_budget("acme", "project=forest")
    assert not budgets.remove_budget("acme", "project=forest")
    assert [b.tag for b in budgets.budgets("acme")] == [None]


@pytest.mark.parametrize("usd", [-1.0, float("nan"), float("inf"), 1e12])
def test_a_budget_that_is_negative_or_not_a_number_is_refused(usd: float) -> None:
    with pytest.raises(BudgetError):
        Budget(tenant="acme", tag=None, monthly_usd=usd)


def test_a_spent_tenant_budget_holds_and_refuses_and_a_raise_releases(
    budgets: TableBudgetStore, totals: TableUsageTotals
) -> None:
    budgets.set_budget(Budget(tenant="acme", tag=None, monthly_usd=1.0))
    spend(totals, 0.6)
    assert guard(budgets, totals).holding("acme", ()) is None
    spend(totals, 0.6)
    held = guard(budgets, totals).holding("acme", ("any",))
    assert held is not None and held.spent_usd == pytest.approx(1.2)
    with pytest.raises(BudgetExhausted) as refused:
        guard(budgets, totals).check_submit("acme", ())
    assert refused.value.status == 402
    assert refused.value.problem_extra()["budget"]["resets_at"] == "2027-01-01T00:00:00Z"
    assert guard(budgets, totals).holding("globex", ()) is None  # another tenant
    budgets.set_budget(Budget(tenant="acme", tag=None, monthly_usd=2.0))
    assert guard(budgets, totals).holding("acme", ()) is None


def test_a_tag_budget_holds_only_jobs_with_the_tag(
    budgets: TableBudgetStore, totals: TableUsageTotals
) -> None:
    budgets.set_budget(Budget(tenant="acme", tag="project=forest", monthly_usd=1.0))
    spend(totals, 1.5, "project=forest")
    spend(totals, 5.0, "project=desert")
    assert guard(budgets, totals).holding("acme", ("project=forest", "x")) is not None
    assert guard(budgets, totals).holding("acme", ("project=desert",)) is None


def test_a_budget_without_hold_never_holds(
    budgets: TableBudgetStore, totals: TableUsageTotals
) -> None:
    budgets.set_budget(Budget(tenant="acme", tag=None, monthly_usd=1.0, hold=False))
    spend(totals, 3.0)
    assert guard(budgets, totals).holding("acme", ()) is None


def test_each_threshold_is_announced_once_a_month_across_settlers(
    budgets: TableBudgetStore, totals: TableUsageTotals
) -> None:
    budgets.set_budget(Budget(tenant="acme", tag=None, monthly_usd=10.0, notify_at=(50, 80)))
    spend(totals, 4.0)
    assert guard(budgets, totals).crossed("acme", (), 4.0) == []
    spend(totals, 4.5)  # 85 %: past both
    announced: list[int] = []

    def settler() -> None:
        announced.extend(p for p, _ in guard(budgets, totals).crossed("acme", (), 4.5))

    threads = [threading.Thread(target=settler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(announced) == [50, 80]


def test_the_operator_sets_lists_and_removes_budgets_with_the_cli(
    table_service: AzuriteTable,
) -> None:
    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(
            cli,
            ["budgets", "--table-connection-string", table_service.connection_string, *args],
        )
        return result.exit_code, result.output

    assert run("set", "acme", "--usd", "250", "--tag", "project=forest")[0] == 0
    assert run("set", "acme", "--usd", "1000", "--notify-at", "50,90")[0] == 0
    code, listed = run("list", "--tenant", "acme")
    assert code == 0
    assert "tag:project=forest" in listed and "1000.00" in listed and "50%,90%" in listed
    assert run("set", "acme", "--usd", "-5")[0] == 2  # a usage error, before any write
    assert run("set", "Not A Tenant", "--usd", "5")[0] == 2
    assert run("remove", "acme", "--tag", "project=forest")[0] == 0
    code, gone = run("remove", "acme", "--tag", "project=forest")
    assert code == 1 and "no tag project=forest budget" in gone
