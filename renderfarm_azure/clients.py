"""One Blob and one Service Bus client per process, built from Settings, with bounded waits."""

from __future__ import annotations

from typing import Any

from azure.core.credentials import TokenCredential
from azure.data.tables import TableClient
from azure.identity import DefaultAzureCredential
from azure.servicebus import ServiceBusClient
from azure.storage.blob import BlobServiceClient, LinearRetry

from renderfarm.shared.settings import Settings

#: Bounds on each call, so a slow dependency turns into a 503 instead of a hung request.
BLOB_CONNECT_TIMEOUT_S = 3
BLOB_READ_TIMEOUT_S = 10
BLOB_RETRIES = 2
BLOB_BACKOFF_S = 1  # the SDK takes whole seconds here
BUS_RETRIES = 2
BUS_BACKOFF_S = 0.5
BUS_BACKOFF_MAX_S = 4


def credential(settings: Settings) -> TokenCredential:
    """Managed identity in Azure (AZURE_CLIENT_ID picks a user-assigned one)."""
    return DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)


def blob_service(settings: Settings) -> BlobServiceClient:
    options: dict[str, Any] = {
        "connection_timeout": BLOB_CONNECT_TIMEOUT_S,
        "read_timeout": BLOB_READ_TIMEOUT_S,
        # Storage's default backoff starts at 15 s; a request must answer long before that.
        "retry_policy": LinearRetry(
            backoff=BLOB_BACKOFF_S, random_jitter_range=BLOB_BACKOFF_S, retry_total=BLOB_RETRIES
        ),
    }
    if settings.storage_connection_string:
        return BlobServiceClient.from_connection_string(
            settings.storage_connection_string, **options
        )
    assert settings.storage_account_url is not None  # Settings refuses neither
    return BlobServiceClient(settings.storage_account_url, credential(settings), **options)


def servicebus(settings: Settings) -> ServiceBusClient:
    options: dict[str, Any] = {
        "retry_total": BUS_RETRIES,
        "retry_backoff_factor": BUS_BACKOFF_S,
        "retry_backoff_max": BUS_BACKOFF_MAX_S,
    }
    if settings.servicebus_connection_string:
        return ServiceBusClient.from_connection_string(
            settings.servicebus_connection_string, **options
        )
    assert settings.servicebus_namespace is not None
    return ServiceBusClient(settings.servicebus_namespace, credential(settings), **options)


def farm_table(
    settings: Settings, name: str, *, connect_timeout_s: float, read_timeout_s: float, retries: int
) -> TableClient | None:
    """Table ``name`` of the farm's table account (the rate limit's: its connection string
    locally, its endpoint with managed identity in Azure); None where none is configured."""
    options: dict[str, Any] = {
        "connection_timeout": connect_timeout_s,
        "read_timeout": read_timeout_s,
        "retry_total": retries,
    }
    if settings.rate_limit_table_connection_string:
        return TableClient.from_connection_string(
            settings.rate_limit_table_connection_string, table_name=name, **options
        )
    if settings.rate_limit_table_endpoint:
        return TableClient(
            settings.rate_limit_table_endpoint,
            table_name=name,
            credential=credential(settings),
            **options,
        )
    return None
