"""Secrets and their versions through the unchanged SDK: set, get, list, update."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.secrets import SecretClient

from tests.keyvault.emulator import KeyVaultEmulator


def test_a_set_secret_reads_back_with_its_properties(
    client: SecretClient, vault: KeyVaultEmulator, name: str
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    written = client.set_secret(name, "s3cret", content_type="text/plain", tags={"tenant": "t1"})

    read = client.get_secret(name)
    assert read.value == "s3cret"
    assert read.id == f"{vault.vault_url}/secrets/{name}/{written.properties.version}"
    assert re.fullmatch(r"[0-9a-f]{32}", read.properties.version or "")
    assert read.properties.vault_url == vault.vault_url
    assert read.properties.content_type == "text/plain"
    assert read.properties.tags == {"tenant": "t1"}
    assert read.properties.enabled is True
    assert read.properties.recovery_level == "Recoverable+Purgeable"
    assert read.properties.recoverable_days == 90
    assert read.properties.created_on is not None
    assert read.properties.created_on >= before
    assert read.properties.updated_on == read.properties.created_on


def test_setting_a_secret_again_makes_a_new_latest_version(client: SecretClient, name: str) -> None:
    first = client.set_secret(name, "one")
    second = client.set_secret(name, "two")

    assert first.properties.version != second.properties.version
    assert client.get_secret(name).value == "two"
    assert client.get_secret(name, first.properties.version).value == "one"
    assert client.get_secret(name, second.properties.version).value == "two"


def test_names_are_case_insensitive(client: SecretClient, name: str) -> None:
    client.set_secret(name, "value")
    assert client.get_secret(name.upper()).value == "value"


def test_an_unknown_version_is_not_found(client: SecretClient, name: str) -> None:
    client.set_secret(name, "value")
    with pytest.raises(ResourceNotFoundError) as caught:
        client.get_secret(name, "0" * 32)
    assert caught.value.error is not None
    assert caught.value.error.code == "SecretNotFound"


def test_versions_are_listed_page_by_page(client: SecretClient, name: str) -> None:
    versions = {client.set_secret(name, f"v{i}").properties.version for i in range(5)}

    pages = [
        list(page)
        for page in client.list_properties_of_secret_versions(name, max_page_size=2).by_page()
    ]

    assert [len(page) for page in pages] == [2, 2, 1]
    assert {item.version for page in pages for item in page} == versions
    assert all(item.name == name for page in pages for item in page)


def test_secrets_are_listed_page_by_page_with_their_latest_properties(
    client: SecretClient, name: str
) -> None:
    names = [f"{name}-{i}" for i in range(3)]
    for each in names:
        client.set_secret(each, "old")
        client.set_secret(each, "new", tags={"latest": "yes"})

    pages = [list(page) for page in client.list_properties_of_secrets(max_page_size=2).by_page()]

    assert len(pages) > 1
    assert all(len(page) <= 2 for page in pages)
    mine = {item.name: item for page in pages for item in page if item.name in names}
    assert sorted(mine) == names
    assert all(item.tags == {"latest": "yes"} for item in mine.values())
    assert all(item.version is None for item in mine.values())  # a secret's id, no version


def test_a_page_larger_than_key_vault_allows_is_refused(client: SecretClient) -> None:
    with pytest.raises(HttpResponseError) as caught:
        list(client.list_properties_of_secrets(max_page_size=26))
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "BadParameter"


def test_a_disabled_secret_cannot_be_read(client: SecretClient, name: str) -> None:
    client.set_secret(name, "value")

    updated = client.update_secret_properties(name, enabled=False)

    assert updated.enabled is False
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret(name)
    assert caught.value.status_code == 403
    assert caught.value.error is not None
    assert caught.value.error.code == "Forbidden"
    assert caught.value.error.message == "Operation get is not allowed on a disabled secret."


def test_a_disabled_secret_can_be_enabled_again(client: SecretClient, name: str) -> None:
    client.set_secret(name, "value", enabled=False)
    client.update_secret_properties(name, enabled=True)
    assert client.get_secret(name).value == "value"


def test_a_disabled_old_version_leaves_the_latest_readable(client: SecretClient, name: str) -> None:
    old = client.set_secret(name, "old")
    client.set_secret(name, "new")

    client.update_secret_properties(name, old.properties.version, enabled=False)

    assert client.get_secret(name).value == "new"
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret(name, old.properties.version)
    assert caught.value.status_code == 403


def test_updating_properties_keeps_the_value_and_what_was_not_named(
    client: SecretClient, name: str
) -> None:
    written = client.set_secret(name, "value", content_type="text/plain", tags={"a": "1"})

    updated = client.update_secret_properties(name, tags={"b": "2"})

    assert updated.version == written.properties.version
    assert updated.tags == {"b": "2"}
    assert updated.content_type == "text/plain"
    assert updated.updated_on is not None
    assert written.properties.updated_on is not None
    assert updated.updated_on >= written.properties.updated_on
    read = client.get_secret(name)
    assert read.value == "value"
    assert read.properties.tags == {"b": "2"}


def test_an_expired_secret_is_still_served_with_its_dates(client: SecretClient, name: str) -> None:
    """Key Vault serves a secret outside its nbf/exp window: the client honours the dates."""
    not_before = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    expires = not_before + timedelta(days=1)
    client.set_secret(name, "value")

    client.update_secret_properties(name, not_before=not_before, expires_on=expires)

    read = client.get_secret(name)
    assert read.value == "value"
    assert read.properties.not_before == not_before
    assert read.properties.expires_on == expires


def test_a_secret_set_with_dates_keeps_them(client: SecretClient, name: str) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    client.set_secret(name, "value", expires_on=expires)
    assert client.get_secret(name).properties.expires_on == expires
