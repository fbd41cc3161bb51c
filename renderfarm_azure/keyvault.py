"""One way to make a Key Vault client: Azure's identity for a vault in Azure; for the local
vault (the Key Vault emulator on a loopback address) its CA bundle and a local token.

The local credential is refused for any vault that is not on this machine, so a setting cannot
send a made-up token (or trust a private CA) for a real vault.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

from renderfarm.shared.settings import Settings, is_loopback_url

#: What the local credential hands out: the emulator checks that a token is there, not what it is.
LOCAL_TOKEN = "renderfarm-local-vault"  # noqa: S105 (not a secret: the emulator takes any token)
_LOCAL_TOKEN_LIFETIME_S = 3600
#: Bounds on each call, so an unreachable vault is a 503 in seconds, not a hung request.
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 10
RETRIES = 2


class LocalVaultError(ValueError):
    """A local vault's settings were given for a vault that is not local."""


class LocalVaultCredential:
    """A ``TokenCredential`` for the local vault only: a fixed token, no identity provider."""

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(LOCAL_TOKEN, int(time.time()) + _LOCAL_TOKEN_LIFETIME_S)


def secret_client(
    vault_url: str, *, ca_bundle: str | None = None, azure_client_id: str | None = None
) -> SecretClient:
    """A client for ``vault_url``; ``ca_bundle`` marks it as the local vault (loopback only)."""
    options: dict[str, Any] = {
        "connection_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
        "retry_total": RETRIES,
    }
    credential: TokenCredential
    if ca_bundle:
        if not is_loopback_url(vault_url):
            raise LocalVaultError(
                f"a CA bundle and the local credential are for a vault on this machine, "
                f"not {vault_url}"
            )
        credential = LocalVaultCredential()
        # The challenge names vault.azure.net, which 127.0.0.1 is not under.
        options |= {"connection_verify": ca_bundle, "verify_challenge_resource": False}
    else:
        credential = DefaultAzureCredential(managed_identity_client_id=azure_client_id)
    return SecretClient(vault_url, credential, **options)


def settings_secret_client(settings: Settings) -> SecretClient:
    """The client of the vault that ``settings`` names (RENDERFARM_KEYVAULT_URL must be set)."""
    assert settings.keyvault_url is not None
    return secret_client(
        settings.keyvault_url,
        ca_bundle=settings.keyvault_ca_bundle,
        azure_client_id=settings.azure_client_id,
    )
