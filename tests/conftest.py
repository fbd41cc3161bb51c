"""Session fixtures: the farm's real dependencies, started on free loopback ports."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from emulators.servicebus.config import BUNDLED_CONFIG
from renderfarm.shared.settings import Settings
from renderfarm_local.services import SERVICE_NICENESS_ENV
from testbed.emulators import Azurite, ServiceBusEmulator, run_azurite, run_servicebus
from webapp.app import create_app

# The test processes' farms run side by side: none's services wait behind another's Blenders.
os.environ[SERVICE_NICENESS_ENV] = "0"
# The client's hash cache (renderfarm_client/hash_cache.py) never in the user's own cache
# folder: a folder of this test process's, inherited by every CLI it starts.
os.environ.setdefault("RENDERFARM_CACHE_DIR", tempfile.mkdtemp(prefix="renderfarm-test-cache-"))


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite's Blob service with a fresh data folder."""
    with run_azurite(tmp_path_factory.mktemp("azurite")) as service:
        yield service


@pytest.fixture(scope="session")
def servicebus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceBusEmulator]:
    """The Service Bus emulator with the bundled config (queue ``render-chunks``)."""
    data_dir = tmp_path_factory.mktemp("servicebus")
    with run_servicebus(data_dir, Path(BUNDLED_CONFIG)) as service:
        yield service


@pytest.fixture
def make_client() -> Iterator[Callable[[Settings], TestClient]]:
    """The API in-process on the given settings; each client is closed after the test."""
    clients: list[TestClient] = []

    def make(settings: Settings) -> TestClient:
        client = TestClient(create_app(settings=settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
