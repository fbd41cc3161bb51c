"""The SDK's challenge-based authentication against the emulator, and what a client must pass."""

from __future__ import annotations

import pytest
from azure.keyvault.secrets import SecretClient
from azure.keyvault.secrets._shared import HttpChallengeCache

from tests.keyvault.credentials import FixedCredential, TokenRequest
from tests.keyvault.emulator import KeyVaultEmulator


@pytest.fixture(autouse=True)
def forget_challenges() -> None:
    """The SDK keeps each vault's challenge for the whole process: forget it, so the SDK starts
    from an unauthenticated request as a fresh process would."""
    HttpChallengeCache.clear()


def test_the_sdk_answers_the_challenge_then_sends_its_token(
    vault: KeyVaultEmulator, name: str
) -> None:
    credential = FixedCredential()
    statuses: list[int] = []
    with vault.client(credential=credential) as client:
        client.set_secret(
            name, "value", raw_response_hook=lambda r: statuses.append(r.http_response.status_code)
        )
        assert client.get_secret(name).value == "value"

    assert statuses == [401, 200]  # the first try goes without a token (or a body)
    assert credential.requests == [
        TokenRequest(("https://vault.azure.net/.default",), "00000000-0000-0000-0000-000000000000")
    ]


def test_without_verify_challenge_resource_false_the_sdk_refuses_the_challenge(
    vault: KeyVaultEmulator, name: str
) -> None:
    """The challenge names vault.azure.net; the SDK wants the vault's host to be under it."""
    with (
        SecretClient(
            vault.vault_url, FixedCredential(), connection_verify=str(vault.certificate)
        ) as client,
        pytest.raises(ValueError, match="verify_challenge_resource=False"),
    ):
        client.get_secret(name)
