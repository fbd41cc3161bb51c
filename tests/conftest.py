"""Session fixtures: the farm's real dependencies, started on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.servicebus.config import BUNDLED_CONFIG
from tests.services import Azurite, ServiceBusEmulator, run_azurite, run_servicebus


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
