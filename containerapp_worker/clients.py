"""The worker's Blob and Service Bus clients, built once per process from Settings.

Unlike the API's (renderfarm_azure.clients), they keep the SDKs' default timeouts and retries: a
worker uploading a large frame would rather wait than fail fast with a 503.
"""

from __future__ import annotations

from azure.servicebus import ServiceBusClient
from azure.storage.blob import BlobServiceClient

from renderfarm.shared.settings import Settings
from renderfarm_azure.clients import credential


def blob_service(settings: Settings) -> BlobServiceClient:
    if settings.storage_connection_string:
        return BlobServiceClient.from_connection_string(settings.storage_connection_string)
    assert settings.storage_account_url is not None  # Settings requires one of the two
    return BlobServiceClient(settings.storage_account_url, credential(settings))


def servicebus(settings: Settings) -> ServiceBusClient:
    if settings.servicebus_connection_string:
        return ServiceBusClient.from_connection_string(settings.servicebus_connection_string)
    assert settings.servicebus_namespace is not None
    return ServiceBusClient(settings.servicebus_namespace, credential(settings))
