"""The usage page, rendered on the server: a month's bar chart by day as inline SVG (one bar per
day that spent anything), the totals and the tables by tag, name and key, links to the months
either side, a 422 page for a month that is not YYYY-MM, only the signed-in tenant's spending,
the operator's budgets read-only, and a farm that keeps no usage saying so."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from azure.data.tables import TableClient
from fastapi.testclient import TestClient

from dashboard.usage_view import Month, axis_usd, nice_ceiling
from renderfarm.billing.budgets import Budget
from renderfarm.billing.usage import Attribution, Spend, UsageAddition
from renderfarm.shared.settings import Settings
from renderfarm_azure.budget_store import TableBudgetStore
from renderfarm_azure.usage_totals_store import TableUsageTotals
from testbed.emulators import Azurite, ServiceBusEmulator
from tests.dashboard.conftest import dashboard_settings, sign_in

FOREST = Attribution(tenant="acme", name="shot", tags=("project=forest",), submitted_by="k1")
DESERT = Attribution(tenant="acme", name="other", tags=("project=desert",), submitted_by="k2")
GLOBEX = Attribution(tenant="globex", name="theirs", tags=("project=secret",), submitted_by="g1")


@pytest.fixture
def usage_settings(azurite: Azurite, servicebus: ServiceBusEmulator) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    return dashboard_settings(
        azurite,
        servicebus,
        rate_limit_table_connection_string=azurite.table_connection_string,
        usage_table="usage" + suffix,
        budgets_table="budgets" + suffix,
    )


def table(settings: Settings, name: str) -> TableClient:
    assert settings.rate_limit_table_connection_string
    return TableClient.from_connection_string(
        settings.rate_limit_table_connection_string, table_name=name
    )


@pytest.fixture
def totals(usage_settings: Settings) -> Iterator[TableUsageTotals]:
    store = TableUsageTotals(table(usage_settings, usage_settings.usage_table))
    yield store
    store.close()


@pytest.fixture
def client(usage_settings: Settings, make_client: Callable[[Settings], TestClient]) -> TestClient:
    return make_client(usage_settings)


def spent(totals: TableUsageTotals, owner: Attribution, at: datetime, usd: float) -> None:
    id = uuid.uuid4().hex
    spend = Spend(worker_s=1800.0, frames=2, usd=usd)
    assert totals.add(UsageAddition(id=id, owner=owner, at=at, spend=spend, writer=id))


@pytest.fixture
def december(totals: TableUsageTotals) -> None:
    spent(totals, FOREST, datetime(2026, 12, 1, 9, tzinfo=UTC), 0.5)
    spent(totals, FOREST, datetime(2026, 12, 3, 9, tzinfo=UTC), 0.25)
    spent(totals, DESERT, datetime(2026, 12, 3, 10, tzinfo=UTC), 1.0)
    spent(totals, DESERT, datetime(2026, 12, 20, 10, tzinfo=UTC), 2.0)
    spent(totals, GLOBEX, datetime(2026, 12, 5, 11, tzinfo=UTC), 9.0)
    spent(totals, FOREST, datetime(2026, 11, 30, 9, tzinfo=UTC), 4.0)


def bars(html: str) -> dict[str, str]:
    """Each bar's day and its hover text."""
    found = re.findall(r'<rect class="bar" data-day="([\d-]+)"[^>]*><title>([^<]*)</title>', html)
    return dict(found)


def table_rows(html: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, f"no table {table_id}"
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]


@pytest.mark.usefixtures("december")
def test_the_page_draws_one_svg_bar_per_day_that_spent_and_the_tag_table(
    client: TestClient,
) -> None:
    page = sign_in(client).get("/usage", params={"month": "2026-12"})
    assert page.status_code == 200, page.text
    html = page.text
    assert '<a href="/usage" aria-current="page">Usage</a>' in html
    assert "December 2026" in html
    assert list(bars(html)) == ["2026-12-01", "2026-12-03", "2026-12-20"]
    assert bars(html)["2026-12-03"] == "2026-12-03: $1.25, 1.00 worker-hours, 4 frames"
    assert html.count('class="axis" x=') >= 31 + 5  # a label per day and per USD tick
    assert re.search(r'id="total-usd">\$3\.75<', html)
    assert re.search(r'id="total-hours">2\.00<', html)
    assert re.search(r'id="total-frames">8<', html)
    assert table_rows(html, "usage-by-tag") == [
        ["project=desert", "$3.00", "3,600.0", "4"],
        ["project=forest", "$0.7500", "3,600.0", "4"],
    ]
    assert [row[0] for row in table_rows(html, "usage-by-name")] == ["other", "shot"]
    assert [row[0] for row in table_rows(html, "usage-by-key")] == ["k2", "k1"]
    assert "style=" not in html  # the CSP forbids inline styles: the chart uses classes


@pytest.mark.usefixtures("december")
def test_the_tallest_bar_reaches_the_top_of_a_round_scale(client: TestClient) -> None:
    html = sign_in(client).get("/usage?month=2026-12").text
    heights = dict(
        re.findall(
            r'data-day="([\d-]+)" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"', html
        )
    )
    assert float(heights["2026-12-20"]) == pytest.approx(2 * float(heights["2026-12-03"]) / 1.25)
    assert ">$2.00</text>" in html  # the scale's top: 2.00 is already round
    assert ">$0.50</text>" in html and ">$0</text>" in html
    assert nice_ceiling(2.0) == 2.0 and nice_ceiling(2.1) == 2.5 and nice_ceiling(0.03) == 0.05
    assert [axis_usd(0.0025 * step, 0.01) for step in range(1, 5)] == [
        "$0.0025",
        "$0.0050",
        "$0.0075",
        "$0.0100",
    ]


@pytest.mark.usefixtures("december")
def test_the_months_either_side_are_linked_and_the_picker_keeps_the_month(
    client: TestClient,
) -> None:
    html = sign_in(client).get("/usage", params={"month": "2026-12"}).text
    assert 'id="previous-month" href="/usage?month=2026-11"' in html
    assert 'id="month-picker" name="month" value="2026-12"' in html
    november = client.get("/usage?month=2026-11").text
    assert list(bars(november)) == ["2026-11-30"]
    assert 'id="next-month" href="/usage?month=2026-12"' in november
    assert table_rows(november, "usage-by-tag") == [["project=forest", "$4.00", "1,800.0", "2"]]
    january = client.get("/usage?month=2027-01").text
    assert bars(january) == {} and 'id="usage-nothing"' in january
    assert 'id="usage-by-tag"' not in january


def test_no_month_is_this_month_and_a_future_month_has_no_next_link(client: TestClient) -> None:
    now = datetime.now(UTC)
    html = sign_in(client).get("/usage").text
    assert f'value="{now:%Y-%m}"' in html
    assert 'id="next-month"' not in html
    blank = client.get("/usage?month=")
    assert blank.status_code == 200 and f'value="{now:%Y-%m}"' in blank.text


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-1", "december", "2026-12-01", "0000-05", "2026-12" * 40]
)
def test_a_month_that_is_not_yyyy_mm_gets_a_422_page(client: TestClient, month: str) -> None:
    page = sign_in(client).get("/usage", params={"month": month})
    assert page.status_code == 422, page.text
    assert page.headers["content-type"].startswith("text/html")  # a page, not the API's JSON
    assert "Invalid month" in page.text and "give it as YYYY-MM" in page.text
    assert "<svg" not in page.text


@pytest.mark.usefixtures("december")
def test_another_tenants_usage_is_not_shown(client: TestClient) -> None:
    acme = sign_in(client).get("/usage?month=2026-12").text
    assert "project=secret" not in acme and "2026-12-05" not in bars(acme)
    globex = sign_in(client, "globex").get("/usage?month=2026-12").text
    assert list(bars(globex)) == ["2026-12-05"]
    assert table_rows(globex, "usage-by-tag") == [["project=secret", "$9.00", "1,800.0", "2"]]
    assert "project=forest" not in globex


def test_the_operators_budgets_show_this_months_spend_and_percent(
    client: TestClient, totals: TableUsageTotals, usage_settings: Settings
) -> None:
    spent(totals, FOREST, datetime.now(UTC), 3.0)
    store = TableBudgetStore(table(usage_settings, usage_settings.budgets_table))
    store.set_budget(Budget(tenant="acme", tag=None, monthly_usd=12.0))
    store.set_budget(Budget(tenant="acme", tag="project=forest", monthly_usd=2.0))
    store.set_budget(Budget(tenant="globex", tag=None, monthly_usd=1.0))
    store.close()
    html = sign_in(client).get("/usage").text
    rows = table_rows(html, "budgets")
    month = f"{datetime.now(UTC):%Y-%m}"
    assert sorted(row[:4] for row in rows) == [
        ["project=forest", month, "$3.00", "$2.00"],
        ["the whole tenant", month, "$3.00", "$12.00"],
    ]
    used = {row[0]: row[4] for row in rows}
    assert used["the whole tenant"].endswith("25 %")
    assert "150 %" in used["project=forest"] and "holding new chunks" in used["project=forest"]
    assert 'method="post"' not in html.split('id="budgets"')[1]  # read-only: no form to change it


def test_the_page_needs_a_session(client: TestClient) -> None:
    answer = client.get("/usage?month=2026-12", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=/usage%3Fmonth%3D2026-12"


def test_a_farm_without_a_table_account_says_no_usage_is_kept(
    azurite: Azurite, servicebus: ServiceBusEmulator, make_client: Callable[[Settings], TestClient]
) -> None:
    plain = make_client(dashboard_settings(azurite, servicebus))
    html = sign_in(plain).get("/usage").text
    assert 'id="no-usage-kept"' in html and "No usage is kept on this farm" in html
    assert "<svg" not in html


def test_months_step_over_the_year_and_stop_at_the_calendars_ends() -> None:
    assert str(Month(year=2027, month=1).previous()) == "2026-12"
    assert str(Month(year=2026, month=12).next()) == "2027-01"
    assert Month(year=1, month=1).previous() is None
    assert Month(year=9999, month=12).next() is None
    assert Month(year=2024, month=2).last.day == 29
