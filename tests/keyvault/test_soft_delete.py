"""Soft delete as a vault with soft delete and purge protection off has it: delete keeps the
secret recoverable for 90 days; recover brings it back; purge forgets it and frees its name."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.keyvault.secrets import SecretClient

from tests.keyvault.emulator import KeyVaultEmulator

#: Delete and recover are done before the emulator answers, so the SDK's pollers (which sleep
#: 2 s between polls) finish on their first poll.
POLLER_S = 1.0


def test_a_deleted_secret_is_recoverable_for_ninety_days(
    client: SecretClient, vault: KeyVaultEmulator, name: str
) -> None:
    written = client.set_secret(name, "value", tags={"a": "1"})

    started = time.monotonic()
    poller = client.begin_delete_secret(name)
    poller.wait()
    deleted = poller.result()

    assert time.monotonic() - started < POLLER_S
    assert poller.done()
    assert deleted.name == name
    assert deleted.recovery_id == f"{vault.vault_url}/deletedsecrets/{name}"
    assert deleted.properties.version == written.properties.version
    assert deleted.deleted_date is not None
    assert deleted.scheduled_purge_date == deleted.deleted_date + timedelta(days=90)
    with pytest.raises(ResourceNotFoundError):
        client.get_secret(name)
    fetched = client.get_deleted_secret(name)
    assert fetched.recovery_id == deleted.recovery_id
    assert fetched.properties.tags == {"a": "1"}


def test_a_recovered_secret_is_whole_again(client: SecretClient, name: str) -> None:
    first = client.set_secret(name, "one")
    client.set_secret(name, "two")
    client.begin_delete_secret(name).wait()

    started = time.monotonic()
    poller = client.begin_recover_deleted_secret(name)
    poller.wait()

    assert time.monotonic() - started < POLLER_S
    assert poller.result().name == name
    assert client.get_secret(name).value == "two"
    assert client.get_secret(name, first.properties.version).value == "one"
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret(name)


def test_a_purged_secret_is_gone_and_its_name_free(client: SecretClient, name: str) -> None:
    old = client.set_secret(name, "old")
    client.begin_delete_secret(name).wait()

    client.purge_deleted_secret(name)

    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret(name)
    with pytest.raises(ResourceNotFoundError):
        client.get_secret(name)
    new = client.set_secret(name, "new")
    assert client.get_secret(name).value == "new"
    assert [item.version for item in client.list_properties_of_secret_versions(name)] == [
        new.properties.version
    ]
    with pytest.raises(ResourceNotFoundError):
        client.get_secret(name, old.properties.version)


def test_setting_a_deleted_name_is_a_conflict(client: SecretClient, name: str) -> None:
    client.set_secret(name, "value")
    client.begin_delete_secret(name).wait()

    with pytest.raises(ResourceExistsError) as caught:
        client.set_secret(name, "again")

    assert caught.value.status_code == 409
    assert caught.value.error is not None
    assert caught.value.error.code == "Conflict"
    assert caught.value.error.message == (
        f"Secret {name} is currently in a deleted but recoverable state, and its name cannot be "
        "reused; in this state, the secret can only be recovered or purged."
    )


def test_deleted_secrets_are_listed_apart_from_the_others(client: SecretClient, name: str) -> None:
    names = [f"{name}-{i}" for i in range(3)]
    for each in names:
        client.set_secret(each, "value")
        client.begin_delete_secret(each).wait()

    pages = [list(page) for page in client.list_deleted_secrets(max_page_size=2).by_page()]

    listed = {item.name: item for page in pages for item in page}
    assert set(names) <= set(listed)
    assert len(pages) >= 2
    assert all(len(page) <= 2 for page in pages)
    assert all(listed[each].recovery_id and listed[each].deleted_date for each in names)
    assert not set(names) & {item.name for item in client.list_properties_of_secrets()}
    assert list(client.list_properties_of_secret_versions(names[0])) == []


def test_deleting_twice_finds_nothing_to_delete(client: SecretClient, name: str) -> None:
    client.set_secret(name, "value")
    client.begin_delete_secret(name).wait()
    with pytest.raises(ResourceNotFoundError):
        client.begin_delete_secret(name)


def test_recovering_or_purging_a_live_secret_finds_no_deleted_secret(
    client: SecretClient, name: str
) -> None:
    client.set_secret(name, "value")
    with pytest.raises(ResourceNotFoundError) as caught:
        client.begin_recover_deleted_secret(name)
    assert caught.value.message and f"Deleted Secret not found: {name}" in caught.value.message
    with pytest.raises(ResourceNotFoundError):
        client.purge_deleted_secret(name)
    assert client.get_secret(name).value == "value"
