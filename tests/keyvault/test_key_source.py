"""The API's key cache over the wire: the key source reads the emulator through the unchanged
SDK, with a fake clock for the cache's rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.keyvault.secrets import SecretClient

from renderfarm.keys.api_keys import hash_key, new_key
from renderfarm.shared.errors import DependencyUnavailable
from renderfarm.shared.settings import Settings
from renderfarm_azure.api_key_admin import ApiKeyAdmin
from renderfarm_azure.guard import breaker
from renderfarm_azure.key_source import KeyVaultKeySource
from renderfarm_azure.keyvault import LocalVaultError, secret_client
from tests.keyvault.emulator import KeyVaultEmulator, run_keyvault

CACHE_S = 60.0
RELOAD_S = 2.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def local_client(vault: KeyVaultEmulator) -> SecretClient:
    """The client the farm makes for its local vault."""
    return secret_client(vault.vault_url, ca_bundle=str(vault.certificate))


def source(client: SecretClient, clock: FakeClock) -> KeyVaultKeySource:
    return KeyVaultKeySource(
        client=client,
        breaker=breaker("key vault"),
        cache_seconds=CACHE_S,
        unknown_key_reload_seconds=RELOAD_S,
        clock=clock,
    )


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def admin(vault: KeyVaultEmulator) -> Iterator[ApiKeyAdmin]:
    with local_client(vault) as client:
        yield ApiKeyAdmin(client)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keys(vault: KeyVaultEmulator, clock: FakeClock) -> Iterator[KeyVaultKeySource]:
    with local_client(vault) as client:
        yield source(client, clock)


def test_a_new_key_works_long_before_the_cache_expires(
    admin: ApiKeyAdmin, keys: KeyVaultKeySource, clock: FakeClock
) -> None:
    first, second = tenant(), tenant()
    old = admin.create(first)
    assert keys.tenant_for(old.key) == first
    new = admin.create(second)
    clock.advance(RELOAD_S)
    assert keys.tenant_for(new.key) == second  # unknown to the cache: it reloaded


def test_a_key_is_known_by_its_vault_key_id_never_by_its_value(
    admin: ApiKeyAdmin, keys: KeyVaultKeySource
) -> None:
    """What a job records as ``submitted_by``: the id ``renderfarm keys list`` shows."""
    name = tenant()
    made = admin.create(name)
    found = keys.key_for(made.key)
    assert found is not None and (found.tenant, found.key_id) == (name, made.stored.key_id)
    assert made.key not in found.key_id


def test_unknown_keys_reload_the_keys_at_most_once_per_interval(
    admin: ApiKeyAdmin, keys: KeyVaultKeySource, clock: FakeClock
) -> None:
    assert keys.tenant_for(new_key()) is None
    name = tenant()
    made = admin.create(name)
    clock.advance(RELOAD_S / 2)
    assert keys.tenant_for(made.key) is None  # reloaded just now: not again yet
    clock.advance(RELOAD_S / 2)
    assert keys.tenant_for(made.key) == name


def test_a_revoked_key_is_refused_once_the_cache_expires(
    admin: ApiKeyAdmin, keys: KeyVaultKeySource, clock: FakeClock
) -> None:
    name = tenant()
    made = admin.create(name)
    assert keys.tenant_for(made.key) == name
    admin.revoke(made.stored.key_id)
    clock.advance(CACHE_S - 1)
    assert keys.tenant_for(made.key) == name  # still cached: the documented window
    clock.advance(1)
    assert keys.tenant_for(made.key) is None


def test_expired_and_disabled_keys_are_not_trusted(
    vault: KeyVaultEmulator, keys: KeyVaultKeySource
) -> None:
    expired, disabled, valid = new_key(), new_key(), new_key()
    name = tenant()
    past = datetime.now(UTC) - timedelta(minutes=1)
    with local_client(vault) as client:
        client.set_secret(f"apikey-{name}-00000001", f"{name}={hash_key(expired)}", expires_on=past)
        client.set_secret(f"apikey-{name}-00000002", f"{name}={hash_key(disabled)}", enabled=False)
        client.set_secret(f"apikey-{name}-00000003", f"{name}={hash_key(valid)}")
    assert keys.tenant_for(valid) == name
    assert keys.tenant_for(expired) is None
    assert keys.tenant_for(disabled) is None


def test_a_key_made_with_an_expiry_stops_working_when_it_expires(
    admin: ApiKeyAdmin, vault: KeyVaultEmulator, clock: FakeClock
) -> None:
    name = tenant()
    made = admin.create(name, lifetime=timedelta(hours=1))
    later = datetime.now(UTC) + timedelta(hours=1, seconds=1)
    with local_client(vault) as client:
        keys = KeyVaultKeySource(client=client, breaker=breaker("key vault"), clock=clock)
        assert keys.tenant_for(made.key) == name
        in_an_hour = KeyVaultKeySource(
            client=client, breaker=breaker("key vault"), clock=clock, now=lambda: later
        )
        assert in_an_hour.tenant_for(made.key) is None


def test_a_malformed_secret_is_ignored_not_fatal(
    vault: KeyVaultEmulator, keys: KeyVaultKeySource
) -> None:
    good, name = new_key(), tenant()
    with local_client(vault) as client:
        client.set_secret(f"apikey-{name}-bad", "not an entry")
        client.set_secret(f"apikey-{name}-good", f"{name}={hash_key(good)}")
    assert keys.tenant_for(good) == name


def test_while_the_vault_is_down_trusted_keys_work_until_the_cache_expires(
    tmp_path: Path, clock: FakeClock
) -> None:
    with run_keyvault(tmp_path) as vault, local_client(vault) as client:
        name = tenant()
        made = ApiKeyAdmin(client).create(name)
        keys = source(client, clock)
        assert keys.tenant_for(made.key) == name
        vault.stop()
        clock.advance(RELOAD_S)
        assert keys.tenant_for(made.key) == name
        with pytest.raises(DependencyUnavailable) as unknown:
            keys.tenant_for(new_key())  # the vault may know it: not a 401
        assert unknown.value.dependency == "key vault"
        with pytest.raises(DependencyUnavailable):
            keys.tenant_for(new_key())  # within the reload interval: the same answer
        clock.advance(CACHE_S)
        with pytest.raises(DependencyUnavailable):
            keys.tenant_for(made.key)
        vault.start()
        clock.advance(RELOAD_S)
        assert keys.tenant_for(made.key) == name


def test_the_local_credential_is_for_a_vault_on_this_machine_only(tmp_path: Path) -> None:
    bundle = str(tmp_path / "cert.pem")
    with pytest.raises(LocalVaultError):
        secret_client("https://farm.vault.azure.net", ca_bundle=bundle)
    fields: dict[str, Any] = {
        "storage_connection_string": "UseDevelopmentStorage=true",
        "servicebus_connection_string": "Endpoint=sb://127.0.0.1",
        "keyvault_url": "https://farm.vault.azure.net",
        "keyvault_ca_bundle": bundle,
    }
    with pytest.raises(ValueError, match="loopback"):
        Settings(**fields)
    assert Settings(**{**fields, "keyvault_url": "https://127.0.0.1:8443"}).keyvault_ca_bundle
