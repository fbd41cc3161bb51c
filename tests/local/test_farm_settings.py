"""What the local farm tells its processes: where its parts are is its own to say; tunables
come from the environment, as app settings would in Azure."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from renderfarm_local.autoscaler import ScalePoll
from renderfarm_local.farm_layout import FarmLayout, FarmPorts
from renderfarm_local.live_view import farm_view
from renderfarm_local.local_farm import LocalFarm, tunable_settings
from renderfarm_local.supervisor import ServiceHealth, ServiceState
from renderfarm_local.worker_pool import PoolCounts
from tests.local.conftest import TEST_SCALING


def farm(tmp_path: Path) -> LocalFarm:
    return LocalFarm(layout=FarmLayout(root=tmp_path), ports=FarmPorts.free(), scaling=TEST_SCALING)


def test_a_rate_limit_in_the_environment_reaches_the_farms_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENDERFARM_RATE_LIMIT_PER_MINUTE", "7")
    monkeypatch.setenv("RENDERFARM_MAX_REQUEST_BYTES", "4096")
    env = farm(tmp_path).settings_env()
    assert env["RENDERFARM_RATE_LIMIT_PER_MINUTE"] == "7"
    assert env["RENDERFARM_MAX_REQUEST_BYTES"] == "4096"


def test_settings_that_point_at_another_farm_never_reach_the_local_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = farm(tmp_path)
    monkeypatch.setenv("RENDERFARM_STORAGE_CONNECTION_STRING", "AccountName=prod;")
    monkeypatch.setenv("RENDERFARM_STORAGE_ACCOUNT_URL", "https://prod.blob.core.windows.net")
    monkeypatch.setenv("RENDERFARM_SERVICEBUS_NAMESPACE", "prod.servicebus.windows.net")
    monkeypatch.setenv("RENDERFARM_KEYVAULT_URL", "https://prod.vault.azure.net")
    monkeypatch.setenv("RENDERFARM_API_KEY", "rf_secret")
    monkeypatch.setenv("RENDERFARM_API_KEY_HASHES", "prod=abc")
    monkeypatch.setenv("RENDERFARM_QUEUE_PREFIX", "prod-chunks")
    env = local.settings_env()
    assert env["RENDERFARM_STORAGE_CONNECTION_STRING"] == (
        local.endpoints.storage_connection_string
    )
    assert env["RENDERFARM_QUEUE_PREFIX"] == "render-chunks"
    assert env["RENDERFARM_KEYVAULT_URL"] == local.endpoints.vault.url
    assert env["RENDERFARM_KEYVAULT_CA_BUNDLE"] == str(local.endpoints.vault.ca_bundle)
    for leaked in (
        "RENDERFARM_STORAGE_ACCOUNT_URL",
        "RENDERFARM_SERVICEBUS_NAMESPACE",
        "RENDERFARM_API_KEY",
        "RENDERFARM_API_KEY_HASHES",
    ):
        assert leaked not in env


def test_tunables_are_the_settings_that_name_no_place() -> None:
    environ = {
        "RENDERFARM_WEBHOOK_RETRY_BASE_SECONDS": "1",
        "RENDERFARM_API_URL": "https://farm.example",
        "PATH": "/bin",
    }
    assert tunable_settings(environ) == {"RENDERFARM_WEBHOOK_RETRY_BASE_SECONDS": "1"}


def test_the_live_view_shows_each_services_restarts_and_last_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = farm(tmp_path)
    health = [
        ServiceHealth(name="api", state=ServiceState.RUNNING, pid=42, restarts=2, last_exit=-9),
        ServiceHealth(
            name="servicebus",
            state=ServiceState.RESTARTING,
            pid=None,
            restarts=0,
            last_exit=1,
            restart_in_s=1.5,
        ),
        ServiceHealth(name="azurite", state=ServiceState.FAILED, pid=None, restarts=6, last_exit=1),
    ]
    monkeypatch.setattr(local, "service_health", lambda: health)
    console = Console(width=200, record=True, color_system=None)
    console.print(farm_view(local, {}, []))
    text = console.export_text()
    assert "running (pid 42), restarted 2 times, last exit -9" in text
    assert "restarting in 1.5 s, last exit 1" in text
    assert "failed, restarted 6 times, last exit 1" in text


def test_the_live_view_shows_every_bands_queue_of_each_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = farm(tmp_path)
    monkeypatch.setattr(local, "service_health", lambda: [])
    (pool,) = local.pools
    queues = local.queues_of(pool)
    assert queues == (
        f"render-chunks-{pool.version}-high",
        f"render-chunks-{pool.version}",
        f"render-chunks-{pool.version}-low",
    )
    poll = ScalePoll(
        at=0.0,
        active_messages=4,
        dead_letters=1,
        workers=PoolCounts(running=2, started=2, exited_on_their_own=0),
        by_queue=tuple(zip(queues, (3, 0, 4), strict=True)),
    )
    console = Console(width=200, record=True, color_system=None)
    console.print(farm_view(local, {str(pool.version): poll}, []))
    text = console.export_text()
    for queue, active in zip(queues, (3, 0, 4), strict=True):
        assert f"queue {queue}: {active} active" in text
    assert "4 active in the deepest queue" in text
