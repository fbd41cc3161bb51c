"""Budgets at submit, over the wire with Azurite's Table service: a tenant whose budget is spent
gets a 402 ``budget-exhausted`` problem naming the budget; a tag's budget refuses only jobs
carrying the tag; another tenant, and a budget that does not hold (``--no-hold``), refuse
nothing. Spending is seeded in the usage totals and budgets in the budgets table, as the workers
and ``renderfarm budgets`` write them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from azure.data.tables import TableClient
from fastapi.testclient import TestClient

from renderfarm.billing.budgets import Budget
from renderfarm.billing.usage import Attribution, Spend, UsageAddition
from renderfarm.shared.settings import Settings
from renderfarm_azure.budget_store import TableBudgetStore
from renderfarm_azure.usage_totals_store import TableUsageTotals
from testbed.emulators import Azurite, ServiceBusEmulator
from tests.api.conftest import auth, settings_for, upload_scene

FOREST = "project=forest"
#: How long the API reuses what it read of budgets (15 s in production).
CACHE_S = 0.2


@pytest.fixture
def budget_settings(azurite: Azurite, servicebus: ServiceBusEmulator) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    return settings_for(
        azurite,
        servicebus,
        rate_limit_table_connection_string=azurite.table_connection_string,
        usage_table="usage" + suffix,
        budgets_table="budgets" + suffix,
        budget_cache_seconds=CACHE_S,
    )


def table(settings: Settings, name: str) -> TableClient:
    assert settings.rate_limit_table_connection_string
    return TableClient.from_connection_string(
        settings.rate_limit_table_connection_string, table_name=name
    )


@pytest.fixture
def totals(budget_settings: Settings) -> Iterator[TableUsageTotals]:
    store = TableUsageTotals(table(budget_settings, budget_settings.usage_table))
    yield store
    store.close()


@pytest.fixture
def budgets(budget_settings: Settings) -> TableBudgetStore:
    return TableBudgetStore(table(budget_settings, budget_settings.budgets_table))


def spend(totals: TableUsageTotals, tenant: str, usd: float, tags: tuple[str, ...] = ()) -> None:
    """``usd`` spent by a job of ``tenant`` carrying ``tags``, today."""
    job = uuid.uuid4().hex
    addition = UsageAddition(
        id=f"{job}/0/1",
        owner=Attribution(tenant=tenant, name="shot", tags=tags, submitted_by="k1"),
        at=datetime.now(UTC),
        spend=Spend(worker_s=60.0, frames=2, usd=usd),
        writer=job,
    )
    assert totals.add(addition)


@pytest.fixture
def api(budget_settings: Settings, make_client: Callable[[Settings], TestClient]) -> TestClient:
    return make_client(budget_settings)


def submit(api: TestClient, tenant: str = "acme", tags: tuple[str, ...] = ()) -> httpx.Response:
    sha = upload_scene(api, tenant=tenant)
    body: dict[str, Any] = {"scene_sha256": sha, "frames": "1", "tags": list(tags)}
    answer: httpx.Response = api.post("/api/jobs", json=body, headers=auth(tenant))
    return answer


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def test_a_spent_tenant_budget_refuses_a_submit_with_a_402_naming_the_budget(
    api: TestClient, totals: TableUsageTotals, budgets: TableBudgetStore
) -> None:
    budgets.set_budget(Budget(tenant="acme", tag=None, monthly_usd=5.0))
    spend(totals, "acme", 3.0)
    spend(totals, "acme", 2.5, (FOREST,))
    refused = submit(api)
    assert refused.status_code == 402, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"] == "urn:renderfarm:problem:budget-exhausted"
    assert (problem["status"], problem["title"]) == (402, "Budget exhausted")
    budget = problem["budget"]
    assert (budget["scope"], budget["tag"], budget["month"]) == ("tenant", None, this_month())
    assert budget["monthly_usd"] == 5.0
    assert budget["spent_usd"] == pytest.approx(5.5)
    resets = datetime.fromisoformat(budget["resets_at"])
    assert budget["resets_at"].endswith("T00:00:00Z")
    assert (resets.day, resets > datetime.now(UTC)) == (1, True)
    assert "5.00 USD" in problem["detail"] and this_month() in problem["detail"]
    # Nothing was recorded of the refused job.
    assert api.get("/api/jobs", headers=auth()).json()["jobs"] == []


def test_a_tenant_under_its_budget_and_another_tenant_are_not_refused(
    api: TestClient, totals: TableUsageTotals, budgets: TableBudgetStore
) -> None:
    budgets.set_budget(Budget(tenant="acme", tag=None, monthly_usd=5.0))
    budgets.set_budget(Budget(tenant="globex", tag=None, monthly_usd=5.0))
    spend(totals, "acme", 9.0)  # acme's spending, none of globex's
    spend(totals, "globex", 4.99)
    assert submit(api, "globex").status_code == 202
    assert submit(api, "acme").status_code == 402


def test_a_spent_tag_budget_refuses_only_jobs_carrying_the_tag(
    api: TestClient, totals: TableUsageTotals, budgets: TableBudgetStore
) -> None:
    budgets.set_budget(Budget(tenant="acme", tag=None, monthly_usd=1000.0))
    budgets.set_budget(Budget(tenant="acme", tag=FOREST, monthly_usd=2.0))
    spend(totals, "acme", 2.0, (FOREST, "shot=12"))
    refused = submit(api, tags=("shot=1", FOREST))
    assert refused.status_code == 402, refused.text
    budget = refused.json()["budget"]
    assert (budget["scope"], budget["tag"]) == (f"tag:{FOREST}", FOREST)
    assert (budget["monthly_usd"], budget["spent_usd"]) == (2.0, pytest.approx(2.0))
    assert submit(api, tags=("project=desert",)).status_code == 202
    assert submit(api).status_code == 202
    assert submit(api, "globex", tags=(FOREST,)).status_code == 202


def test_a_budget_that_does_not_hold_refuses_nothing(
    api: TestClient, totals: TableUsageTotals, budgets: TableBudgetStore
) -> None:
    budgets.set_budget(Budget(tenant="acme", tag=None, monthly_usd=1.0, hold=False))
    budgets.set_budget(Budget(tenant="acme", tag=FOREST, monthly_usd=0.0, hold=False))
    spend(totals, "acme", 3.0, (FOREST,))
    assert submit(api, tags=(FOREST,)).status_code == 202


def test_raising_a_spent_budget_lets_submits_through_again(
    api: TestClient, totals: TableUsageTotals, budgets: TableBudgetStore
) -> None:
    budgets.set_budget(Budget(tenant="acme", tag=None, monthly_usd=1.0))
    spend(totals, "acme", 1.0)
    assert submit(api).status_code == 402
    budgets.set_budget(Budget(tenant="acme", tag=None, monthly_usd=2.0))
    time.sleep(2 * CACHE_S)
    assert submit(api).status_code == 202


def test_a_farm_without_budgets_refuses_nothing(api: TestClient, totals: TableUsageTotals) -> None:
    spend(totals, "acme", 1_000_000.0)
    assert submit(api).status_code == 202
