"""One emulator for the Key Vault tests; each test works on secret names of its own."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from azure.keyvault.secrets import SecretClient
from azure.keyvault.secrets.aio import SecretClient as AsyncSecretClient

from tests.keyvault.emulator import KeyVaultEmulator, run_keyvault


@pytest.fixture(scope="session")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyVaultEmulator]:
    with run_keyvault(tmp_path_factory.mktemp("keyvault")) as emulator:
        yield emulator


@pytest.fixture
def client(vault: KeyVaultEmulator) -> Iterator[SecretClient]:
    with vault.client() as secrets:
        yield secrets


@pytest.fixture
async def aclient(vault: KeyVaultEmulator) -> AsyncIterator[AsyncSecretClient]:
    async with vault.async_client() as secrets:
        yield secrets


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A secret name no other test uses: the test's name in Key Vault's alphabet."""
    stem = re.sub(r"[^0-9a-zA-Z]+", "-", request.node.name).strip("-")[:80]
    return f"{stem}-{uuid.uuid4().hex[:8]}"
