"""The jobs page's search box in a real browser (Debian's headless Chromium): type a name prefix
and a tag, press Enter, see only the jobs that match, clear the search, and see a refused tag
explained. No workers: the app alone under uvicorn on the emulators, its jobs queued.
Screenshots go to out/dashboard-screenshots/ (search-*.png).

Run alone: ``.venv/bin/python -m pytest tests/dashboard/test_search_browser.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from renderfarm_local.services import REPO
from testbed.emulators import Azurite, ServiceBusEmulator
from testbed.scenes import whole_blend
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
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def app_url(
    azurite: Azurite, servicebus: ServiceBusEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with app_under_uvicorn(
        dashboard_settings(azurite, servicebus), tmp_path_factory.mktemp("app")
    ) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    with headless_chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


def submit(url: str, name: str, tags: list[str]) -> str:
    data = whole_blend(b"BLENDER-v500", name.encode() + b"\0" * 4096)
    sha = hashlib.sha256(data).hexdigest()
    headers = {"Authorization": f"Bearer {KEYS['acme']}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        ticket = client.post("/api/scenes", json={"sha256": sha, "size": len(data)}).json()
        if not ticket["exists"]:
            httpx.put(ticket["upload_url"], content=data, headers=ticket["upload_headers"])
        body = {"scene_sha256": sha, "frames": "1-2", "name": name, "tags": tags}
        job = client.post("/api/jobs", json=body)
        assert job.status_code == 202, job.text
        job_id: str = job.json()["job_id"]
        return job_id


def shown(driver: webdriver.Chrome) -> list[str]:
    return [
        row.get_attribute("data-job") or ""
        for row in driver.find_elements(By.CSS_SELECTOR, "tr.job")
    ]


def test_the_search_box_narrows_the_jobs_and_clear_brings_them_back(
    app_url: str, browser: webdriver.Chrome
) -> None:
    key = submit(app_url, "shot_010 key", ["shot=010", "lighting"])
    fill = submit(app_url, "shot_020 fill", ["shot=020", "lighting"])
    turntable = submit(app_url, "turntable", ["lighting"])
    browser.get(app_url + "/")
    browser.find_element(By.ID, "key").send_keys(KEYS["acme"])
    browser.find_element(By.CSS_SELECTOR, "form[action='/sign-in'] button").click()
    waiting = WebDriverWait(browser, WAIT_S, poll_frequency=0.2)
    waiting.until(lambda d: shown(d) == [turntable, fill, key], "every job listed")
    browser.find_element(By.ID, "search-name").send_keys("SHOT_")
    browser.find_element(By.ID, "search-tags").send_keys("lighting shot=020" + Keys.ENTER)
    waiting.until(lambda d: shown(d) == [fill], "only the job that matches")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "search-found.png"))
    assert "name=SHOT_" in browser.current_url and "tags=lighting+shot%3D020" in browser.current_url
    assert browser.find_element(By.ID, "search-name").get_attribute("value") == "SHOT_"
    browser.find_element(By.LINK_TEXT, "Clear").click()
    waiting.until(lambda d: shown(d) == [turntable, fill, key], "every job again")
    browser.find_element(By.ID, "search-tags").send_keys("shot = 010" + Keys.ENTER)
    waiting.until(lambda d: d.find_elements(By.ID, "search-error"), "the search's error")
    assert "is not a tag" in browser.find_element(By.ID, "search-error").text
    browser.save_screenshot(str(SCREENSHOTS / "search-refused.png"))
    assert shown(browser) == []
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]  # type: ignore[no-untyped-call]
    assert all("422" in e["message"] for e in errors), errors  # only the refused search itself
