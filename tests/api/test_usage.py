"""``GET /api/usage`` over the wire: the caller's tenant's running totals by day, tag, name or key,
a 422 naming the field for each bad query, and another tenant's usage never shown."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import pytest
from azure.data.tables import TableClient
from fastapi.testclient import TestClient

from functions.routes.usage import usage_span
from renderfarm.billing.usage import Attribution, Spend, UsageAddition
from renderfarm.shared.settings import Settings
from renderfarm_azure.usage_totals_store import TableUsageTotals
from testbed.emulators import Azurite, ServiceBusEmulator
from tests.api.conftest import auth, settings_for

FOREST = Attribution(tenant="acme", name="shot", tags=("project=forest",), submitted_by="k1")
DESERT = Attribution(tenant="acme", name="other", tags=("project=desert",), submitted_by="k2")
GLOBEX = Attribution(tenant="globex", name="theirs", tags=("project=forest",))


@pytest.fixture
def usage_settings(azurite: Azurite, servicebus: ServiceBusEmulator) -> Settings:
    return settings_for(
        azurite,
        servicebus,
        rate_limit_table_connection_string=azurite.table_connection_string,
        usage_table="usage" + uuid.uuid4().hex[:10],
    )


@pytest.fixture
def totals(usage_settings: Settings) -> Iterator[TableUsageTotals]:
    assert usage_settings.rate_limit_table_connection_string
    table = TableClient.from_connection_string(
        usage_settings.rate_limit_table_connection_string, table_name=usage_settings.usage_table
    )
    store = TableUsageTotals(table)
    yield store
    store.close()


@pytest.fixture
def api(usage_settings: Settings, make_client: Callable[[Settings], TestClient]) -> TestClient:
    return make_client(usage_settings)


def spent(totals: TableUsageTotals, id: str, owner: Attribution, at: datetime, usd: float) -> None:
    addition = UsageAddition(
        id=id, owner=owner, at=at, spend=Spend(worker_s=10.0, frames=2, usd=usd), writer=id
    )
    assert totals.add(addition)


@pytest.fixture
def december(totals: TableUsageTotals) -> None:
    spent(totals, "j1/0/1", FOREST, datetime(2026, 12, 1, 9, tzinfo=UTC), 0.5)
    spent(totals, "j1/1/1", FOREST, datetime(2026, 12, 3, 9, tzinfo=UTC), 0.25)
    spent(totals, "j2/0/1", DESERT, datetime(2026, 12, 3, 10, tzinfo=UTC), 1.0)
    spent(totals, "j3/0/1", GLOBEX, datetime(2026, 12, 3, 11, tzinfo=UTC), 9.0)
    spent(totals, "j1/2/1", FOREST, datetime(2026, 11, 30, 9, tzinfo=UTC), 4.0)  # before


MONTH = {"from": "2026-12-01", "to": "2026-12-31"}


@pytest.mark.usefixtures("december")
def test_usage_by_day_is_the_tenants_spending_each_day(api: TestClient) -> None:
    answer = api.get("/api/usage", params=MONTH, headers=auth())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["first_day"], body["last_day"], body["group_by"]) == (
        "2026-12-01",
        "2026-12-31",
        "day",
    )
    by_day = {line["key"]: line for line in body["groups"]}
    assert sorted(by_day) == ["2026-12-01", "2026-12-03"]
    assert by_day["2026-12-03"]["usd"] == pytest.approx(1.25)
    assert by_day["2026-12-03"]["worker_s"] == pytest.approx(20.0)
    assert by_day["2026-12-03"]["frames"] == 4
    assert body["total"]["usd"] == pytest.approx(1.75)
    assert "RateLimit-Remaining" in answer.headers


@pytest.mark.usefixtures("december")
@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        ("tag", {"project=forest": 0.75, "project=desert": 1.0}),
        ("name", {"shot": 0.75, "other": 1.0}),
        ("key", {"k1": 0.75, "k2": 1.0}),
    ],
)
def test_usage_groups_by_tag_name_and_key(
    api: TestClient, group_by: str, expected: dict[str, float]
) -> None:
    answer = api.get("/api/usage", params={**MONTH, "group_by": group_by}, headers=auth())
    assert answer.status_code == 200, answer.text
    lines = {line["key"]: line["usd"] for line in answer.json()["groups"]}
    assert lines == pytest.approx(expected)


@pytest.mark.usefixtures("december")
def test_another_tenant_sees_only_its_own_usage(api: TestClient) -> None:
    answer = api.get("/api/usage", params={**MONTH, "group_by": "tag"}, headers=auth("globex"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["groups"] == [
        {"key": "project=forest", "worker_s": 10.0, "frames": 2, "usd": 9.0}
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-12-08", "to": "2026-12-07"}, "from"),
        ({"group_by": "week"}, "group_by"),
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"to": "0"}, "to"),
    ],
    ids=[
        "from-after-to",
        "unknown-group",
        "no-such-month",
        "not-a-date",
        "a-number",
    ],
)
def test_a_bad_usage_query_gets_a_422_naming_the_field(
    api: TestClient, params: dict[str, str], field: str
) -> None:
    answer = api.get("/api/usage", params=params, headers=auth())
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"].endswith(":validation")
    assert [(error["field"], error["in"]) for error in problem["errors"]] == [(field, "query")]


def test_a_span_longer_than_a_year_is_past_the_farms_limit_a_403_naming_from(
    api: TestClient,
) -> None:
    answer = api.get(
        "/api/usage", params={"from": "2025-01-01", "to": "2026-12-07"}, headers=auth()
    )
    assert answer.status_code == 403, answer.text
    problem = answer.json()
    assert problem["type"].endswith(":farm-limit")
    assert [(error["field"], error["in"]) for error in problem["errors"]] == [("from", "query")]
    assert "366 days" in problem["detail"]


def test_usage_needs_an_api_key(api: TestClient) -> None:
    assert api.get("/api/usage").status_code == 401


def test_a_farm_that_keeps_no_usage_answers_nothing_spent(client: TestClient) -> None:
    answer = client.get("/api/usage", headers=auth())
    assert answer.status_code == 200, answer.text
    assert answer.json()["groups"] == []
    assert answer.json()["total"]["usd"] == 0


def test_the_span_defaults_to_this_month_so_far() -> None:
    now = date(2026, 12, 17)
    assert usage_span(None, None, now=now) == (date(2026, 12, 1), now)
    assert usage_span(None, date(2026, 11, 5), now=now) == (date(2026, 11, 1), date(2026, 11, 5))
    assert usage_span(date(2026, 12, 9), None, now=now) == (date(2026, 12, 9), now)
