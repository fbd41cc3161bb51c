"""The dashboard in a real browser (Debian's headless Chromium through chromium-driver) against
one local farm with Blender workers: sign in, watch a job complete without a reload, its frames
and previews, cancel, a corrupt scene's reason, another tenant's job out of reach, a clean
JavaScript console. Screenshots of each page go to out/dashboard-screenshots/.

Run alone: ``.venv/bin/python -m pytest tests/dashboard/test_browser.py -s``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from renderfarm_azure.api_key_admin import ApiKeyAdmin
from renderfarm_local.farm_layout import FarmLayout, FarmPorts
from renderfarm_local.local_farm import LocalFarm
from renderfarm_local.services import REPO
from testbed.scenes import build_cycles_scene, write_corrupt_blend
from tests.dashboard.browser_harness import headless_chromium, skip_without_chromium
from tests.local.conftest import TEST_SCALING

#: The first test also starts the farm; each waits up to WAIT_S for a render. A wait that runs
#: out fails with the page kept (evidence_on_failure); pytest-timeout is only the backstop.
pytestmark = [pytest.mark.local_farm, pytest.mark.slow, pytest.mark.timeout(600)]

SCREENSHOTS = REPO / "out" / "dashboard-screenshots"
#: Tiny frames: the point is the page, not the pixels.
RENDER = {"resolution_x": 64, "resolution_y": 48, "samples": 4}
WAIT_S = 150

skip_without_chromium()

from selenium import webdriver  # noqa: E402 (only once the browser is known to be there)
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


class Farm:
    def __init__(self, farm: LocalFarm, other_key: str):
        self.farm = farm
        self.url = farm.endpoints.api_url
        self.key = farm.endpoints.api_key
        self.other_key = other_key

    def submit(self, scene: Path, *, key: str | None = None, **fields: Any) -> str:
        """Upload the scene and submit a job over the API, as any client does."""
        headers = {"Authorization": f"Bearer {key or self.key}"}
        data = scene.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            ticket = client.post("/api/scenes", json={"sha256": sha, "size": len(data)})
            ticket.raise_for_status()
            if not ticket.json()["exists"]:
                put = httpx.put(
                    ticket.json()["upload_url"],
                    content=data,
                    headers=ticket.json()["upload_headers"],
                    timeout=30,
                )
                put.raise_for_status()
            body = {"scene_sha256": sha, "render": RENDER, **fields}
            for _ in range(20):  # a key made a moment ago: the API reloads keys on a miss
                job = client.post("/api/jobs", json=body)
                if job.status_code != 401:
                    break
                time.sleep(0.5)
            assert job.status_code == 202, job.text
            job_id: str = job.json()["job_id"]
            return job_id


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    local = LocalFarm(
        layout=FarmLayout(root=tmp_path_factory.mktemp("dashboard-farm")),
        ports=FarmPorts.free(),
        scaling=TEST_SCALING,
    )
    local.start()
    try:
        with local.endpoints.vault.client() as vault:
            other = ApiKeyAdmin(vault).create("globex").key
        yield Farm(local, other)
    finally:
        local.stop()


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("dashboard-scenes")
    return {
        "good": build_cycles_scene(folder / "moving-square.blend"),
        "corrupt": write_corrupt_blend(folder / "corrupt.blend", seed=14),
    }


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SCREENSHOTS}")
    with headless_chromium(
        tmp_path_factory.mktemp("chromium-profile"),
        page_load_timeout_s=60,
        extra_arguments=("--disable-quic", "--disable-component-update", "--disable-sync"),
    ) as driver:
        yield driver


@pytest.fixture(autouse=True)
def evidence_on_failure(
    request: pytest.FixtureRequest, farm: Farm, browser: webdriver.Chrome
) -> Iterator[None]:
    """When a test fails (a wait timed out, pytest-timeout fired), keep what it saw: the page's
    screenshot, source, URL and console, the tenant's jobs as the API reports them, the test's
    elapsed time and the farm's logs, under out/dashboard-screenshots/failures/<test>/."""
    started = time.monotonic()
    yield
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed:
        return
    folder = SCREENSHOTS / "failures" / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    notes = [f"elapsed {time.monotonic() - started:.1f} s", f"load {os.getloadavg()}"]
    try:
        notes.append(f"url {browser.current_url}")
        browser.save_screenshot(str(folder / "page.png"))
        (folder / "page.html").write_text(browser.page_source, encoding="utf-8")
        notes += [f"console {entry}" for entry in browser.get_log("browser")]  # type: ignore[no-untyped-call]
    except Exception as error:  # evidence is best effort; the failure stands
        notes.append(f"browser unavailable: {error!r}")
    try:
        jobs = httpx.get(
            farm.url + "/api/jobs", headers={"Authorization": f"Bearer {farm.key}"}, timeout=10
        )
        (folder / "jobs.json").write_text(jobs.text, encoding="utf-8")
    except httpx.HTTPError as error:
        notes.append(f"API unavailable: {error!r}")
    (folder / "notes.txt").write_text("\n".join(notes) + "\n", encoding="utf-8")
    shutil.copytree(farm.farm.layout.logs, folder / "logs", dirs_exist_ok=True)
    print(f"\nfailure evidence: {folder}")


def shot(driver: webdriver.Chrome, name: str) -> None:
    """The whole page: the window grows to the page's height for the picture."""
    path = SCREENSHOTS / f"{name}.png"
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight;")
    driver.set_window_size(size["width"], min(max(int(height), size["height"]), 3000))
    driver.save_screenshot(str(path))
    driver.set_window_size(size["width"], size["height"])
    print(f"screenshot {path}")


def console_errors(
    driver: webdriver.Chrome, allowed: Callable[[str], bool] = lambda _: False
) -> list[str]:
    """SEVERE entries of the JavaScript console since the last call, less the allowed ones."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [
        entry["message"]
        for entry in entries
        if entry["level"] == "SEVERE" and not allowed(entry["message"])
    ]


def wait(
    driver: webdriver.Chrome,
    until: Callable[[webdriver.Chrome], Any],
    timeout: float = WAIT_S,
    what: str = "",
) -> Any:
    """Poll `until` until it is truthy. The live parts of a page are replaced by fresh HTML every
    1.5-5 s (dashboard.js), so an element found a moment ago may be gone: a stale element is
    looked up again on the next poll, like a missing one."""
    started = time.monotonic()
    result = WebDriverWait(
        driver,
        timeout,
        poll_frequency=0.25,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    ).until(until, message=f"{what or 'condition'} not met within {timeout:.0f} s")
    print(f"waited {time.monotonic() - started:.1f} s for {what or 'condition'}")
    return result


def read(driver: webdriver.Chrome, selector: str, attribute: str | None = None) -> str | None:
    """The first match's attribute (or its visible text), read in one script: atomic with
    respect to the page's live updates, where find_element then get_attribute is not."""
    value = driver.execute_script(
        "const e = document.querySelector(arguments[0]);"
        "if (!e) return null;"
        "return arguments[1] === null ? e.innerText : e.getAttribute(arguments[1]);",
        selector,
        attribute,
    )
    return None if value is None else str(value)


def click(selector: str) -> Callable[[webdriver.Chrome], bool]:
    def go(driver: webdriver.Chrome) -> bool:
        driver.find_element(By.CSS_SELECTOR, selector).click()
        return True

    return go


def job_row_state(job_id: str) -> Callable[[webdriver.Chrome], str | None]:
    def state(driver: webdriver.Chrome) -> str | None:
        return read(driver, f'tr[data-job="{job_id}"]', "data-state")

    return state


def job_state(driver: webdriver.Chrome) -> str | None:
    return read(driver, "#job-live", "data-state")


def test_sign_in_then_watch_a_job_complete_without_a_reload(
    farm: Farm, browser: webdriver.Chrome, scenes: dict[str, Path]
) -> None:
    job_id = farm.submit(scenes["good"], frames="1-6", chunk_size=2)
    browser.get(farm.url + "/")
    assert "/sign-in" in browser.current_url
    shot(browser, "01-sign-in")
    browser.find_element(By.ID, "key").send_keys("rf_wrong-key")
    browser.find_element(By.CSS_SELECTOR, "form[action='/sign-in'] button").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".message.error"))
    assert "not valid" in browser.find_element(By.CSS_SELECTOR, ".message.error").text
    console_errors(browser, lambda m: "401" in m)  # the refused sign-in is a 401, as it should
    browser.find_element(By.ID, "key").send_keys(farm.key)
    browser.find_element(By.CSS_SELECTOR, "form[action='/sign-in'] button").click()  # click 1
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs-live"))
    browser.execute_script("window.renderfarmNoReload = true;")
    seen = {wait(browser, job_row_state(job_id), what="the job's row")}
    shot(browser, "02-jobs-rendering")

    def completed(driver: webdriver.Chrome) -> bool:
        seen.add(job_row_state(job_id)(driver) or "")
        return "completed" in seen

    try:
        wait(browser, completed, what="the row to show completed")
    except TimeoutException:
        pytest.fail(f"the job's row never showed completed; states seen: {sorted(seen)}")
    assert browser.execute_script("return window.renderfarmNoReload === true;")  # no reload
    assert read(browser, f'tr[data-job="{job_id}"] progress', "value") == "100"
    row = read(browser, f'tr[data-job="{job_id}"]') or ""
    assert "6 / 6" in row and "completed" in row, row
    shot(browser, "03-jobs-completed")
    assert console_errors(browser) == []


def test_a_jobs_page_shows_thumbnails_and_the_preview_video(
    farm: Farm, browser: webdriver.Chrome
) -> None:
    browser.get(farm.url + "/?state=completed")
    # The newest completed job; the rows may be replaced between finding the link and clicking.
    wait(
        browser,
        click("tr[data-job] a"),
        what="a click on the newest completed job",
    )  # click 2: the job's frames are on this page
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".filmstrip img"), what="thumbnails")
    thumbs = browser.find_elements(By.CSS_SELECTOR, ".filmstrip img")
    assert len(thumbs) == 6
    wait(
        browser,
        lambda d: d.execute_script(
            "return [...document.querySelectorAll('.filmstrip img')]"
            ".every(i => i.complete && i.naturalWidth > 0);"
        ),
        timeout=30,
    )
    # The farm builds the previews after the job completes; the page polls until they are there.
    wait(browser, lambda d: d.find_elements(By.ID, "preview-video"), what="the preview video")
    assert read(browser, "video#preview-video", "src")
    wait(
        browser,
        lambda d: d.execute_script(
            "const i = document.getElementById('contact-sheet');"
            "return i.complete && i.naturalWidth > 0;"
        ),
        timeout=30,
    )
    assert browser.find_elements(By.CSS_SELECTOR, ".chunk-grid .chunk.state-done")
    assert "Total (estimate)" in (read(browser, "table.cost") or "")
    shot(browser, "04-job-completed")
    assert console_errors(browser) == []


def test_a_second_job_is_cancelled_after_a_confirmation(
    farm: Farm, browser: webdriver.Chrome, scenes: dict[str, Path]
) -> None:
    job_id = farm.submit(
        scenes["good"], frames="1-400", chunk_size=200, render={**RENDER, "samples": 64}
    )
    browser.get(f"{farm.url}/jobs/{job_id}")
    browser.find_element(By.ID, "cancel-job").click()
    assert "Cancel job" in browser.find_element(By.TAG_NAME, "h1").text
    shot(browser, "05-cancel-confirmation")
    browser.find_element(By.ID, "confirm-cancel").click()
    wait(browser, lambda d: job_state(d) == "cancelled", what="the job to show cancelled")
    assert "cancelled" in (read(browser, ".summary .badge") or "")
    shot(browser, "06-job-cancelled")
    assert console_errors(browser) == []


def test_a_scouted_jobs_quote_is_approved_with_its_pages_button(
    farm: Farm, browser: webdriver.Chrome, scenes: dict[str, Path]
) -> None:
    job_id = farm.submit(scenes["good"], frames="1-6", chunk_size=2, scout=True)
    browser.get(f"{farm.url}/jobs/{job_id}")
    wait(browser, click("#approve-job"), what="a click on the quote's Approve")
    wait(browser, lambda d: job_state(d) == "completed", what="the approved job to complete")
    assert read(browser, "#quote-decision") == "approved"
    assert "Actual / estimate" in (read(browser, "#quote") or "")
    shot(browser, "07-quote-approved")
    assert console_errors(browser) == []


def test_a_corrupt_scenes_failed_chunk_shows_its_reason(
    farm: Farm, browser: webdriver.Chrome, scenes: dict[str, Path]
) -> None:
    job_id = farm.submit(scenes["corrupt"], frames="1-2", chunk_size=2)
    browser.get(f"{farm.url}/jobs/{job_id}")
    wait(browser, lambda d: job_state(d) == "failed", what="the job to show failed")
    reason = wait(browser, lambda d: read(d, ".failure .reason"), what="the failure's reason")
    assert "SceneError" in reason, reason
    assert browser.find_elements(By.CSS_SELECTOR, ".chunk-grid .chunk.state-failed")
    shot(browser, "07-job-failed")
    browser.get(farm.url + "/")
    shot(browser, "08-jobs-all")
    assert console_errors(browser) == []


def test_another_tenants_job_is_not_reachable(
    farm: Farm, browser: webdriver.Chrome, scenes: dict[str, Path]
) -> None:
    theirs = farm.submit(scenes["corrupt"], key=farm.other_key, frames="1", chunk_size=1)
    browser.get(farm.url + "/")
    assert theirs not in browser.page_source
    browser.get(f"{farm.url}/jobs/{theirs}")
    assert "Not found" in browser.find_element(By.TAG_NAME, "h1").text
    shot(browser, "09-other-tenant-404")
    # The only console entry: the 404 of the page itself.
    assert console_errors(browser, lambda m: theirs in m and "404" in m) == []


def test_farm_and_webhooks_pages_and_a_phone_sized_screen(
    farm: Farm, browser: webdriver.Chrome
) -> None:
    browser.get(farm.url + "/farm")
    queues = read(browser, "table.queues") or ""
    assert "render-chunks-5.3" in queues
    assert browser.find_elements(By.CSS_SELECTOR, "table.replicas")
    shot(browser, "10-farm")
    browser.get(farm.url + "/webhooks")
    assert "Add a webhook" in browser.page_source
    shot(browser, "11-webhooks")
    browser.set_window_size(390, 844)
    browser.get(farm.url + "/")
    shot(browser, "12-jobs-phone")
    browser.set_window_size(1280, 900)
    assert console_errors(browser) == []
