"""Errors as Key Vault answers them, and as the SDK turns them into exceptions."""

from __future__ import annotations

import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.secrets import SecretClient

from emulators.keyvault.vault import MAX_VALUE_BYTES
from tests.keyvault.emulator import KeyVaultEmulator


def test_a_missing_secret_is_not_found_with_key_vaults_words(
    client: SecretClient, name: str
) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        client.get_secret(name)

    assert caught.value.status_code == 404
    assert caught.value.error is not None
    assert caught.value.error.code == "SecretNotFound"
    assert caught.value.error.message is not None
    assert caught.value.error.message.startswith(
        f"A secret with (name/id) {name} was not found in this key vault."
    )


@pytest.mark.parametrize("bad", ["under_score", "dot.ted", "x" * 128])
def test_a_malformed_name_is_a_bad_parameter(client: SecretClient, bad: str) -> None:
    with pytest.raises(HttpResponseError) as caught:
        client.set_secret(bad, "value")

    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "BadParameter"
    assert caught.value.error.message == f"The request URI contains an invalid name: {bad}"


def test_a_name_of_127_characters_is_allowed(client: SecretClient) -> None:
    name = "n" * 127
    client.set_secret(name, "value")
    assert client.get_secret(name).value == "value"


def test_a_value_over_25k_bytes_is_a_bad_parameter(client: SecretClient, name: str) -> None:
    client.set_secret(name, "x" * MAX_VALUE_BYTES)  # exactly the limit is fine

    with pytest.raises(HttpResponseError) as caught:
        client.set_secret(name, "é" * (MAX_VALUE_BYTES // 2 + 1))  # the limit counts bytes

    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "BadParameter"


def test_a_request_without_a_token_is_challenged(vault: KeyVaultEmulator) -> None:
    response = httpx.get(
        f"{vault.vault_url}/secrets", params={"api-version": "7.6"}, verify=vault.ssl_context()
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer authorization="https://login.microsoftonline.com/'
        '00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"'
    )
    assert response.json() == {
        "error": {
            "code": "Unauthorized",
            "message": "AKV10000: Request is missing a Bearer or PoP token.",
        }
    }


def test_any_bearer_token_is_accepted(vault: KeyVaultEmulator) -> None:
    response = httpx.get(
        f"{vault.vault_url}/secrets",
        params={"api-version": "7.6"},
        headers={"Authorization": "Bearer anything"},
        verify=vault.ssl_context(),
    )
    assert response.status_code == 200
    assert set(response.json()) == {"value", "nextLink"}


def test_a_request_without_an_api_version_is_a_bad_parameter(vault: KeyVaultEmulator) -> None:
    response = httpx.get(
        f"{vault.vault_url}/secrets",
        headers={"Authorization": "Bearer anything"},
        verify=vault.ssl_context(),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadParameter"


def test_an_unknown_operation_is_not_found(vault: KeyVaultEmulator) -> None:
    response = httpx.post(
        f"{vault.vault_url}/secrets/x/backup",
        params={"api-version": "7.6"},
        headers={"Authorization": "Bearer anything"},
        verify=vault.ssl_context(),
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NotFound"
