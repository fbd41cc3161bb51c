"""Every error the emulator answers, worded as Key Vault words it: one factory per error, so the
semantics layer (vault) raises them and the wire layer (http_api) renders them the same way.

The texts are Key Vault's own where they are public (seen in SDK test recordings and issues);
``value_too_large`` is ours, Key Vault's wording for it is not published.
"""

from __future__ import annotations

from typing import Any

_RECOVER_HINT = (
    "If you recently deleted this secret you may be able to recover it using the correct "
    "recovery command. For help resolving this issue, please see "
    "https://go.microsoft.com/fwlink/?linkid=2125182"
)


class KeyVaultError(Exception):
    """An answer other than success: an HTTP status, Key Vault's error code and message."""

    def __init__(
        self, status: int, code: str, message: str, *, inner_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner_code = inner_code

    def body(self) -> dict[str, Any]:
        """The ``KeyVaultError`` JSON document the SDK deserializes."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner_code is not None:
            error["innererror"] = {"code": self.inner_code}
        return {"error": error}


def secret_not_found(name: str, version: str | None = None) -> KeyVaultError:
    ident = f"{name}/{version}" if version else name
    return KeyVaultError(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {ident} was not found in this key vault. {_RECOVER_HINT}",
    )


def deleted_secret_not_found(name: str) -> KeyVaultError:
    return KeyVaultError(404, "SecretNotFound", f"Deleted Secret not found: {name}")


def secret_disabled() -> KeyVaultError:
    return KeyVaultError(
        403,
        "Forbidden",
        "Operation get is not allowed on a disabled secret.",
        inner_code="SecretDisabled",
    )


def deleted_but_recoverable(name: str) -> KeyVaultError:
    return KeyVaultError(
        409,
        "Conflict",
        f"Secret {name} is currently in a deleted but recoverable state, and its name cannot be "
        "reused; in this state, the secret can only be recovered or purged.",
        inner_code="ObjectIsDeletedButRecoverable",
    )


def invalid_name(name: str) -> KeyVaultError:
    return KeyVaultError(400, "BadParameter", f"The request URI contains an invalid name: {name}")


def value_too_large(size: int, limit: int) -> KeyVaultError:
    return KeyVaultError(
        400,
        "BadParameter",
        f"The secret value is {size} bytes; a secret value may be at most {limit} bytes.",
    )


def bad_parameter(message: str) -> KeyVaultError:
    return KeyVaultError(400, "BadParameter", message)


def unauthorized() -> KeyVaultError:
    return KeyVaultError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")


def no_such_operation(method: str, path: str) -> KeyVaultError:
    return KeyVaultError(404, "NotFound", f"The emulator has no operation {method} {path}.")
