"""The worker's Blob and Service Bus clients, built once per process from Settings."""

from __future__ import annotations

from azure.identity import DefaultAzureCredential
from azure.servicebus import ServiceBusClient
from azure.storage.blob import BlobServiceClient

from renderfarm.settings import Settings


def blob_service(settings: Settings) -> BlobServiceClient:
    if settings.storage_connection_string:
        return BlobServiceClient.from_connection_string(settings.storage_connection_string)
    assert settings.storage_account_url is not None  # Settings requires one of the two
    credential = DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
    return BlobServiceClient(settings.storage_account_url, credential)


def servicebus(settings: Settings) -> ServiceBusClient:
    if settings.servicebus_connection_string:
        return ServiceBusClient.from_connection_string(settings.servicebus_connection_string)
    assert settings.servicebus_namespace is not None
    credential = DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
    return ServiceBusClient(settings.servicebus_namespace, credential)
