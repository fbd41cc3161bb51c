"""What the dashboard's browser tests share: Debian's headless Chromium and the app alone under
uvicorn on the emulators (no workers)."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from renderfarm.shared.settings import ENV_PREFIX, Settings
from renderfarm_local.services import api_spec, http_json
from renderfarm_local.supervisor import ManagedProcess
from testbed.emulators import free_port

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
APP_START_S = 30.0


def skip_without_chromium() -> None:
    """Skip the calling module where Debian's chromium and its driver are not installed."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "needs Debian's chromium and chromium-driver (`make system-deps` as root)",
            allow_module_level=True,
        )


@contextlib.contextmanager
def headless_chromium(
    profile: Path, *, page_load_timeout_s: float = 30, extra_arguments: tuple[str, ...] = ()
) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with its own profile folder, quit on the way out."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
        *extra_arguments,
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(page_load_timeout_s)
    try:
        yield driver
    finally:
        driver.quit()


@contextlib.contextmanager
def app_under_uvicorn(settings: Settings, log_dir: Path) -> Iterator[str]:
    """The API and the dashboard in a process of their own with ``settings``; its URL once it
    answers, stopped (SIGTERM) on the way out."""
    env = {
        ENV_PREFIX + name.upper(): str(value)
        for name, value in settings.model_dump(exclude_unset=True).items()
    }
    port, log = free_port(), log_dir / "app.log"
    app = ManagedProcess(api_spec(port=port, env=env, log_path=log))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + APP_START_S
        while http_json(f"{url}/api/health") is None:
            if not app.is_running() or time.monotonic() > deadline:
                pytest.fail(f"the app did not start:\n{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.1)
        yield url
    finally:
        app.stop()
