"""The local farm for end-to-end tests: real Azurite, emulator, API and Blender workers on free
ports, started once per module. Run these alone with ``pytest -m local_farm tests/local``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from renderfarm_local.farm_layout import FarmLayout, FarmPorts
from renderfarm_local.local_farm import LocalFarm
from renderfarm_local.scaling_rule import ScalingParameters
from renderfarm_local.services import REPO

#: Fast decisions for tests; two Blender workers at most on a two-core machine.
TEST_SCALING = ScalingParameters(
    min_replicas=0,
    max_replicas=2,
    message_count=1,
    activation_message_count=0,
    polling_interval_s=0.25,
    cooldown_period_s=5.0,
)
CLI_TIMEOUT_S = 100


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "local_farm: end to end through the local farm (Blender workers)"
    )


@dataclass(frozen=True, kw_only=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


@dataclass(frozen=True, kw_only=True)
class RunningFarm:
    farm: LocalFarm

    def cli(self, *args: str, key: str | None = None) -> CliResult:
        """The ``renderfarm`` command in its own process, as a person would run it."""
        env = {
            **os.environ,
            "RENDERFARM_API_URL": self.farm.endpoints.api_url,
            "RENDERFARM_API_KEY": key or self.farm.endpoints.api_key,
            "COLUMNS": "200",
        }
        done = subprocess.run(
            [sys.executable, "-m", "renderfarm_cli", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        return CliResult(code=done.returncode, stdout=done.stdout, stderr=done.stderr)


@pytest.fixture(scope="module")
def local_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFarm]:
    farm = LocalFarm(
        layout=FarmLayout(root=tmp_path_factory.mktemp("local-farm")),
        ports=FarmPorts.free(),
        scaling=TEST_SCALING,
    )
    farm.start()
    try:
        yield RunningFarm(farm=farm)
    finally:
        farm.stop()
