"""API keys through the local farm: the API it starts reads them from the Key Vault emulator
through azure-keyvault-secrets; a key made with `renderfarm keys create` works at once and is
refused after `renderfarm keys revoke`, within the key cache lifetime (short here)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from renderfarm.keys.api_keys import hash_key
from renderfarm_azure.api_key_admin import ApiKeyAdmin
from renderfarm_local.farm_layout import FarmLayout, FarmPorts
from renderfarm_local.local_farm import LOCAL_TENANT, LocalFarm
from tests.local.conftest import TEST_SCALING, RunningFarm

pytestmark = pytest.mark.local_farm

CACHE_S = 1.0


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFarm]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RENDERFARM_KEYVAULT_CACHE_SECONDS", str(CACHE_S))
        local = LocalFarm(
            layout=FarmLayout(root=tmp_path_factory.mktemp("keys-farm")),
            ports=FarmPorts.free(),
            scaling=TEST_SCALING,
        )
        local.start()
    try:
        yield RunningFarm(farm=local)
    finally:
        local.stop()


def test_the_farm_keeps_its_key_in_the_vault_not_in_the_apis_settings(farm: RunningFarm) -> None:
    local = farm.farm
    env = local.settings_env()
    assert "RENDERFARM_API_KEY_HASHES" not in env
    assert env["RENDERFARM_KEYVAULT_URL"] == local.endpoints.vault.url
    with local.endpoints.vault.client() as client:
        stored = ApiKeyAdmin(client).list()
        (mine,) = [key for key in stored if key.tenant == LOCAL_TENANT]
        value = client.get_secret(mine.name).value
    assert value == f"{LOCAL_TENANT}={hash_key(local.endpoints.api_key)}"
    assert farm.cli("jobs").code == 0  # the API found the hash in the vault
    names = {health.name for health in local.service_health()}
    assert "keyvault" in names


def test_a_key_made_with_the_cli_works_and_is_refused_once_revoked(farm: RunningFarm) -> None:
    data_dir = str(farm.farm.layout.root)
    made = farm.cli("keys", "--data-dir", data_dir, "create", "--tenant", "studio-9")
    assert made.code == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("rf_")
    assert farm.cli("jobs", key=key).code == 0, "a new key works at once"
    listed = farm.cli("keys", "--data-dir", data_dir, "list")
    (row,) = [line for line in listed.stdout.splitlines() if "studio-9" in line]
    key_id = row.split()[3]
    revoked = farm.cli("keys", "--data-dir", data_dir, "revoke", key_id)
    assert revoked.code == 0, revoked.stderr
    time.sleep(CACHE_S + 0.5)
    refused = farm.cli("jobs", key=key)
    assert refused.code != 0
    assert "refused the API key" in refused.stderr, refused.stderr
    assert farm.cli("jobs").code == 0, "the farm's own key still works"
