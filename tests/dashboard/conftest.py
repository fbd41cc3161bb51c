"""Fixtures for the dashboard's fast tests: the app in-process on Azurite and the Service Bus
emulator, a signed-in browser-like client per tenant. The browser tests (test_browser.py) run a
whole local farm instead."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from renderfarm.shared.settings import Settings
from testbed.emulators import Azurite, ServiceBusEmulator
from tests.api.conftest import KEYS, settings_for

SECRET = "dashboard-test-secret-0123456789abcdef"


def dashboard_settings(
    azurite: Azurite, servicebus: ServiceBusEmulator, **overrides: Any
) -> Settings:
    fields: dict[str, Any] = {
        "dashboard_session_secret": SECRET,
        "servicebus_management_url": servicebus.management_url,
        **overrides,
    }
    return settings_for(azurite, servicebus, **fields)


@pytest.fixture
def settings(azurite: Azurite, servicebus: ServiceBusEmulator) -> Settings:
    return dashboard_settings(azurite, servicebus)


@pytest.fixture
def client(settings: Settings, make_client: Callable[[Settings], TestClient]) -> TestClient:
    return make_client(settings)


def sign_in(client: TestClient, tenant: str = "acme", next_path: str = "/") -> TestClient:
    response = client.post(
        "/sign-in", data={"key": KEYS[tenant], "next": next_path}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, so a fixture can tell whether the test failed
    (test_browser.py saves the page, its console and the farm's logs when one does)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
