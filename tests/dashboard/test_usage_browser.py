"""The usage page in a real browser (Debian's headless Chromium): sign in, open Usage from the
nav, see this month's bars and tag table, step to the previous month with the page's own link and
back with the next one, with no CSP violation in the console. No workers: the app alone under
uvicorn on the emulators, its usage totals seeded in Azurite's Table service.
Screenshots go to out/dashboard-screenshots/ (usage-*.png).

Run alone: ``.venv/bin/python -m pytest tests/dashboard/test_usage_browser.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from azure.data.tables import TableClient

from dashboard.usage_view import Month
from renderfarm.billing.usage import Attribution, Spend, UsageAddition
from renderfarm.shared.settings import Settings
from renderfarm_azure.usage_totals_store import TableUsageTotals
from renderfarm_local.services import REPO
from testbed.emulators import Azurite, ServiceBusEmulator
from tests.api.conftest import KEYS
from tests.dashboard.browser_harness import (
    app_under_uvicorn,
    headless_chromium,
    skip_without_chromium,
)
from tests.dashboard.conftest import dashboard_settings

pytestmark = pytest.mark.timeout(180)

WAIT_S = 20.0
SCREENSHOTS = REPO / "out" / "dashboard-screenshots"

skip_without_chromium()

from selenium import webdriver  # noqa: E402 (only once the browser is known to be there)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

FOREST = Attribution(tenant="acme", name="shot", tags=("project=forest",), submitted_by="k1")
DESERT = Attribution(tenant="acme", name="other", tags=("project=desert",), submitted_by="k2")
#: When this month's spending is seeded (the page's default month is this one's).
SEEDED_AT = datetime.now(UTC)


@pytest.fixture(scope="module")
def settings(azurite: Azurite, servicebus: ServiceBusEmulator) -> Settings:
    return dashboard_settings(
        azurite,
        servicebus,
        rate_limit_table_connection_string=azurite.table_connection_string,
        usage_table="usage" + uuid.uuid4().hex[:10],
    )


@pytest.fixture(scope="module")
def months(settings: Settings) -> tuple[Month, Month]:
    """This month (spent today on project=forest) and the one before (its 2nd, project=desert)."""
    now = SEEDED_AT
    this = Month(year=now.year, month=now.month)
    before = this.previous()
    assert before is not None and settings.rate_limit_table_connection_string
    table = TableClient.from_connection_string(
        settings.rate_limit_table_connection_string, table_name=settings.usage_table
    )
    totals = TableUsageTotals(table)
    for owner, at, usd in (
        (FOREST, now, 1.5),
        (DESERT, datetime(before.year, before.month, 2, 12, tzinfo=UTC), 0.75),
    ):
        id = uuid.uuid4().hex
        spend = Spend(worker_s=900.0, frames=3, usd=usd)
        assert totals.add(UsageAddition(id=id, owner=owner, at=at, spend=spend, writer=id))
    totals.close()
    return this, before


@pytest.fixture(scope="module")
def app_url(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with app_under_uvicorn(settings, tmp_path_factory.mktemp("app")) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    with headless_chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


def bar_days(driver: webdriver.Chrome) -> list[str]:
    return [
        bar.get_attribute("data-day") or ""
        for bar in driver.find_elements(By.CSS_SELECTOR, "#usage-chart rect.bar")
    ]


def tags(driver: webdriver.Chrome) -> list[str]:
    return [
        cell.text
        for cell in driver.find_elements(By.CSS_SELECTOR, "#usage-by-tag tbody td:first-child")
    ]


def heading(driver: webdriver.Chrome) -> str:
    found = driver.find_elements(By.ID, "usage-month")
    return found[0].text if found else ""


def test_usage_from_the_nav_then_the_previous_month_and_back(
    app_url: str, browser: webdriver.Chrome, months: tuple[Month, Month]
) -> None:
    this, before = months
    browser.get(app_url + "/")
    browser.find_element(By.ID, "key").send_keys(KEYS["acme"])
    browser.find_element(By.CSS_SELECTOR, "form[action='/sign-in'] button").click()
    waiting = WebDriverWait(browser, WAIT_S, poll_frequency=0.2)
    waiting.until(lambda d: d.find_elements(By.LINK_TEXT, "Usage"), "the nav's Usage link")
    browser.find_element(By.LINK_TEXT, "Usage").click()
    waiting.until(lambda d: heading(d) == this.title, "this month's usage")
    assert bar_days(browser) == [f"{this}-{SEEDED_AT.day:02d}"]
    assert tags(browser) == ["project=forest"]
    assert browser.find_element(By.ID, "total-usd").text == "$1.50"
    bar = browser.find_element(By.CSS_SELECTOR, "#usage-chart rect.bar")
    assert bar.size["height"] > 0 and bar.size["width"] > 0  # drawn, not just in the markup
    assert not browser.find_elements(By.ID, "next-month")  # nothing after this month yet
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "usage-this-month.png"))

    browser.find_element(By.ID, "previous-month").click()
    waiting.until(lambda d: heading(d) == before.title, "the previous month")
    assert f"month={before}" in browser.current_url
    assert bar_days(browser) == [f"{before}-02"]
    assert tags(browser) == ["project=desert"]
    assert browser.find_element(By.ID, "month-picker").get_attribute("value") == str(before)
    browser.save_screenshot(str(SCREENSHOTS / "usage-previous-month.png"))

    browser.find_element(By.ID, "next-month").click()
    waiting.until(lambda d: heading(d) == this.title, "back to this month")
    assert tags(browser) == ["project=forest"]
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]  # type: ignore[no-untyped-call]
    assert errors == []  # no CSP violation: the chart has no inline style or script
