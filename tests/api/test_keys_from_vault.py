"""The API with its keys in a vault (the Key Vault emulator, through the SDK): a revoked key is
refused once the key cache expires, and while the vault is down a trusted key keeps working and
an unknown one is a 503, not a 401."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from renderfarm.keys.api_keys import new_key
from renderfarm.shared.settings import Settings
from renderfarm_azure.api_key_admin import ApiKeyAdmin, NewKey
from renderfarm_azure.key_source import UNKNOWN_KEY_RELOAD_SECONDS
from renderfarm_azure.keyvault import secret_client
from testbed.emulators import Azurite, ServiceBusEmulator
from tests.api.conftest import settings_for
from tests.keyvault.emulator import KeyVaultEmulator, run_keyvault

SHORT_CACHE_S = 1.0


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[KeyVaultEmulator]:
    with run_keyvault(tmp_path / "keyvault") as emulator:
        yield emulator


def make_key(vault: KeyVaultEmulator, tenant: str) -> NewKey:
    with secret_client(vault.vault_url, ca_bundle=str(vault.certificate)) as client:
        return ApiKeyAdmin(client).create(tenant)


def revoke(vault: KeyVaultEmulator, key: NewKey) -> None:
    with secret_client(vault.vault_url, ca_bundle=str(vault.certificate)) as client:
        ApiKeyAdmin(client).revoke(key.stored.key_id)


def api_on_vault(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    vault: KeyVaultEmulator,
    make_client: Callable[[Settings], TestClient],
    cache_seconds: float,
) -> TestClient:
    settings = settings_for(
        azurite,
        servicebus,
        api_key_hashes=None,
        keyvault_url=vault.vault_url,
        keyvault_ca_bundle=str(vault.certificate),
        keyvault_cache_seconds=cache_seconds,
    )
    return make_client(settings)


def jobs(client: TestClient, key: str) -> int:
    status: int = client.get("/api/jobs", headers={"Authorization": f"Bearer {key}"}).status_code
    return status


def test_a_new_key_works_at_once_and_a_revoked_one_is_refused_after_the_cache_lifetime(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    vault: KeyVaultEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    client = api_on_vault(azurite, servicebus, vault, make_client, SHORT_CACHE_S)
    first = make_key(vault, "acme")
    assert jobs(client, first.key) == 200
    time.sleep(UNKNOWN_KEY_RELOAD_SECONDS)
    second = make_key(vault, "globex")
    assert jobs(client, second.key) == 200  # made after the cache was filled: works at once
    revoke(vault, second)
    time.sleep(SHORT_CACHE_S + 0.2)
    response = client.get("/api/jobs", headers={"Authorization": f"Bearer {second.key}"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert jobs(client, first.key) == 200


def test_while_the_vault_is_down_a_trusted_key_works_and_an_unknown_key_is_a_503(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    vault: KeyVaultEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    client = api_on_vault(azurite, servicebus, vault, make_client, 300.0)
    trusted = make_key(vault, "acme")
    assert jobs(client, trusted.key) == 200
    vault.stop()
    time.sleep(UNKNOWN_KEY_RELOAD_SECONDS)
    assert jobs(client, trusted.key) == 200
    response = client.get("/api/jobs", headers={"Authorization": f"Bearer {new_key()}"})
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "key vault" in response.text
    assert jobs(client, trusted.key) == 200
