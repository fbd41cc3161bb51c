"""``renderfarm keys``: make, list and revoke API keys in a farm's Key Vault.

The vault is ``--vault-url`` (RENDERFARM_KEYVAULT_URL) with Azure's identity (``az login``,
DefaultAzureCredential), or by default the local farm's vault, found in the file the farm writes
into its data folder (its URL and the certificate that trusts it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
from azure.core.exceptions import AzureError, ServiceRequestError
from azure.keyvault.secrets import SecretClient
from rich.console import Console
from rich.table import Table

from renderfarm.shared.settings import is_loopback_url
from renderfarm.shared.tenants import is_tenant
from renderfarm_azure.api_key_admin import ApiKeyAdmin, ApiKeyError, StoredKey, parse_lifetime
from renderfarm_azure.key_source import KEYVAULT_CACHE_SECONDS
from renderfarm_azure.keyvault import LocalVaultError, secret_client
from renderfarm_local.farm_layout import DEFAULT_DATA_DIR, FarmLayout, LocalVault

stdout = Console()
stderr = Console(stderr=True)


def _when(moment: datetime | None, none: str) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}" if moment else none


def open_vault(
    vault_url: str | None, ca_bundle: Path | None, data_dir: Path
) -> tuple[str, SecretClient]:
    """The vault named, else the local farm's; its URL and a client for it."""
    local = LocalVault.read(FarmLayout(root=data_dir).keyvault_file)
    if vault_url is None:
        if local is None:
            raise ApiKeyError(
                "no vault: pass --vault-url (or set RENDERFARM_KEYVAULT_URL), "
                "or start the local farm once (renderfarm local up)"
            )
        return local.url, _client(local.url, local.ca_bundle)
    vault_url = vault_url.rstrip("/")
    if ca_bundle is None and local is not None and local.url == vault_url:
        ca_bundle = local.ca_bundle
    return vault_url, _client(vault_url, ca_bundle)


def _client(vault_url: str, ca_bundle: Path | None) -> SecretClient:
    if ca_bundle is not None and not ca_bundle.is_file():
        raise ApiKeyError(f"no certificate at {ca_bundle}: has the local farm's vault started?")
    try:
        return secret_client(vault_url, ca_bundle=str(ca_bundle) if ca_bundle else None)
    except LocalVaultError as error:
        raise ApiKeyError(str(error)) from error


@contextlib.contextmanager
def vault_admin(context: click.Context) -> Iterator[ApiKeyAdmin]:
    """The admin for the group's vault; the vault's failures as one line each."""
    url, client = open_vault(**context.obj)
    try:
        with client:
            yield ApiKeyAdmin(client)
    except ServiceRequestError as error:
        hint = " (is the local farm running?)" if is_loopback_url(url) else ""
        raise ApiKeyError(f"the vault at {url} did not answer{hint}: {error}") from error
    except AzureError as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ApiKeyError(f"the vault at {url} refused: {first_line}") from error


@click.group()
@click.option(
    "--vault-url",
    envvar="RENDERFARM_KEYVAULT_URL",
    default=None,
    help="the farm's Key Vault [env RENDERFARM_KEYVAULT_URL; default: the local farm's]",
)
@click.option(
    "--ca-bundle",
    envvar="RENDERFARM_KEYVAULT_CA_BUNDLE",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="trust a local vault's certificate (loopback URLs only)",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="the local farm whose vault is the default",
)
@click.pass_context
def keys(
    context: click.Context, vault_url: str | None, ca_bundle: Path | None, data_dir: Path
) -> None:
    """Make, list and revoke API keys (only their sha256 is stored)."""
    context.obj = {"vault_url": vault_url, "ca_bundle": ca_bundle, "data_dir": data_dir}


@keys.command()
@click.option("--tenant", required=True, help="lower-case letters, digits and dashes")
@click.option("--expires", default=None, metavar="DURATION", help="e.g. 90d, 12h, 2w [never]")
@click.pass_context
def create(context: click.Context, tenant: str, expires: str | None) -> None:
    """Make a key for TENANT and print it once."""
    if not is_tenant(tenant):
        raise ApiKeyError(
            f"tenant {tenant!r} must be 1-63 lower-case letters, digits and dashes, "
            "starting with a letter or digit"
        )
    lifetime = parse_lifetime(expires) if expires else None
    with vault_admin(context) as admin:
        made = admin.create(tenant, lifetime=lifetime)
    stored = made.stored
    stderr.print(
        f"API key {stored.key_id} for tenant {tenant}, expires "
        f"{_when(stored.expires_on, 'never')} (secret {stored.name}). "
        "Shown once; only its hash is stored:",
        soft_wrap=True,
    )
    click.echo(made.key)


def _state(key: StoredKey, now: datetime) -> str:
    if not key.enabled:
        return "disabled"
    return "expired" if key.is_expired(now) else "active"


@keys.command("list")
@click.pass_context
def list_keys(context: click.Context) -> None:
    """Every key: tenant, id, created, expires, last used."""
    with vault_admin(context) as admin:
        found = admin.list()
    now = datetime.now(UTC)
    table = Table("tenant", "key id", "created", "expires", "last used", "state")
    for key in found:
        table.add_row(
            key.tenant,
            key.key_id,
            _when(key.created_on, "?"),
            _when(key.expires_on, "never"),
            _when(key.last_used, "unknown"),
            _state(key, now),
        )
    stdout.print(table if found else "no API keys in this vault")


@keys.command()
@click.argument("key_id")
@click.pass_context
def revoke(context: click.Context, key_id: str) -> None:
    """Revoke a key (by its id or secret name): the API refuses it within its cache lifetime."""
    with vault_admin(context) as admin:
        key = admin.revoke(key_id)
    stderr.print(
        f"revoked API key {key.key_id} of tenant {key.tenant} (secret {key.name} deleted, kept "
        f"recoverable); the API refuses it within its key cache lifetime "
        f"(RENDERFARM_KEYVAULT_CACHE_SECONDS, {KEYVAULT_CACHE_SECONDS:.0f} s by default)",
        soft_wrap=True,
    )
