"""Credentials for a local vault: a fixed token, and a record of what the SDK asked for.

The emulator accepts any bearer token, so these never reach an identity provider. Each records
the scopes and tenant it was asked for, so a test can check how the SDK read the challenge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import AccessToken

LOCAL_TOKEN = "local-keyvault-emulator-token"
TOKEN_LIFETIME_S = 3600


@dataclass(frozen=True)
class TokenRequest:
    scopes: tuple[str, ...]
    tenant_id: str | None


def _token() -> AccessToken:
    return AccessToken(LOCAL_TOKEN, int(time.time()) + TOKEN_LIFETIME_S)


class FixedCredential:
    """A ``TokenCredential`` that hands out one fixed token."""

    def __init__(self) -> None:
        self.requests: list[TokenRequest] = []

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.requests.append(TokenRequest(scopes, tenant_id))
        return _token()


class AsyncFixedCredential:
    """An ``AsyncTokenCredential`` that hands out one fixed token."""

    def __init__(self) -> None:
        self.requests: list[TokenRequest] = []

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.requests.append(TokenRequest(scopes, tenant_id))
        return _token()

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> AsyncFixedCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        pass
