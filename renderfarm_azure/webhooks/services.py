"""The webhooks' adapters built from Settings: for the API (the registry), the events consumer
(the store and the deliveries queue, for fan_out) and the deliveries consumer (the deliverer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.servicebus import ServiceBusClient
from azure.storage.blob import BlobServiceClient

from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.settings import Settings
from renderfarm.webhooks.rules import RetryPolicy
from renderfarm.webhooks.urls import Resolver
from renderfarm_azure import clients
from renderfarm_azure.guard import breaker as new_breaker
from renderfarm_azure.guard import guarded
from renderfarm_azure.keyvault import settings_secret_client
from renderfarm_azure.webhooks.deliver import Deliverer
from renderfarm_azure.webhooks.queue import DeliveryQueue
from renderfarm_azure.webhooks.registry import WebhookRegistry
from renderfarm_azure.webhooks.secret_store import BlobSecretStore, KeyVaultSecretStore, SecretStore
from renderfarm_azure.webhooks.store import WebhookStore
from renderfarm_azure.webhooks.transport import system_resolver


def utc_now() -> datetime:
    return datetime.now(UTC)


def webhook_store(
    blob_service: BlobServiceClient, settings: Settings, breaker: CircuitBreaker
) -> WebhookStore:
    container = blob_service.get_container_client(settings.webhooks_container)
    return WebhookStore(container=container, breaker=breaker)


def secret_store(store: WebhookStore, settings: Settings) -> SecretStore:
    """Key Vault when the farm has one (Azure), else blobs beside the records."""
    if settings.keyvault_url:
        return KeyVaultSecretStore(
            client=settings_secret_client(settings), breaker=new_breaker("key vault")
        )
    return BlobSecretStore(container=store.container, breaker=new_breaker("blob storage"))


def webhook_registry(
    settings: Settings,
    blob_service: BlobServiceClient,
    *,
    breaker: CircuitBreaker | None = None,
    resolve: Resolver | None = None,
) -> WebhookRegistry:
    """The API's view: register, list, remove."""
    store = webhook_store(blob_service, settings, breaker or new_breaker("blob storage"))
    return WebhookRegistry(
        store=store,
        secrets=secret_store(store, settings),
        development=settings.environment == "development",
        resolve=resolve or system_resolver(),
        clock=utc_now,
    )


@dataclass(frozen=True, kw_only=True)
class WebhookServices:
    settings: Settings
    store: WebhookStore
    secrets: SecretStore
    deliveries: DeliveryQueue
    _owned: tuple[Any, ...] = field(default=(), repr=False)

    def deliverer(self, **options: Any) -> Deliverer:
        """The deliveries consumer's logic; ``options`` override Deliverer's defaults (tests)."""
        defaults: dict[str, Any] = {
            "development": self.settings.environment == "development",
            "policy": RetryPolicy(base_delay_s=self.settings.webhook_retry_base_seconds),
        }
        return Deliverer(
            store=self.store,
            secrets=self.secrets,
            queue=self.deliveries,
            **{**defaults, **options},
        )

    def ensure_container(self) -> None:
        """Create the webhooks container where nothing else has (locally; Bicep does in Azure)."""
        try:
            guarded(new_breaker("blob storage"), self.store.container.create_container)
        except ResourceExistsError:
            return

    def close(self) -> None:
        self.deliveries.close()
        for client in self._owned:
            client.close()


def webhook_services(
    settings: Settings,
    *,
    blob_service: BlobServiceClient | None = None,
    servicebus: ServiceBusClient | None = None,
) -> WebhookServices:
    """The store, secrets and deliveries queue. Clients passed in are shared and left open by
    ``close()``; those made here are closed by it."""
    owned: list[Any] = []
    if blob_service is None:
        blob_service = clients.blob_service(settings)
        owned.append(blob_service)
    if servicebus is None:
        servicebus = clients.servicebus(settings)
        owned.append(servicebus)
    store = webhook_store(blob_service, settings, new_breaker("blob storage"))
    return WebhookServices(
        settings=settings,
        store=store,
        secrets=secret_store(store, settings),
        deliveries=DeliveryQueue(
            client=servicebus,
            queue=settings.webhook_deliveries_queue,
            breaker=new_breaker("service bus"),
        ),
        _owned=tuple(owned),
    )
