"""What the API does with webhooks: register one (its URL checked, its secret made and stored),
list a tenant's, remove one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from renderfarm.jobs.events import EventType
from renderfarm.webhooks.rules import (
    MAX_WEBHOOKS_PER_TENANT,
    Webhook,
    WebhookNotFound,
    event_types,
    new_secret,
    new_webhook_id,
)
from renderfarm.webhooks.urls import Resolver, vet_url
from renderfarm_azure.webhooks.secret_store import SecretStore
from renderfarm_azure.webhooks.store import WebhookStore


@dataclass(frozen=True, kw_only=True)
class Registered:
    webhook: Webhook
    secret: str  # shown to the tenant this once


class WebhookRegistry:
    def __init__(  # noqa: PLR0913 - keyword-only: each a port or setting it needs
        self,
        *,
        store: WebhookStore,
        secrets: SecretStore,
        development: bool,
        resolve: Resolver,
        clock: Callable[[], datetime],
        limit: int = MAX_WEBHOOKS_PER_TENANT,
    ):
        self._store = store
        self._secrets = secrets
        self._development = development
        self._resolve = resolve
        self._clock = clock
        self._limit = limit

    def register(self, tenant: str, url: str, events: Sequence[EventType]) -> Registered:
        """Raise WebhookUrlRejected for a URL the rules refuse, TooManyWebhooks past the limit.

        The secret is stored before the record, so a record never lacks its secret.
        """
        vet_url(url, development=self._development, resolve=self._resolve)
        webhook = Webhook(
            id=new_webhook_id(),
            tenant=tenant,
            url=url,
            events=event_types(list(events)),
            created_at=self._clock(),
        )
        secret = new_secret()
        self._secrets.put(tenant, webhook.id, secret)
        try:
            self._store.create(webhook, limit=self._limit)
        except BaseException:
            self._secrets.delete(tenant, webhook.id)
            raise
        return Registered(webhook=webhook, secret=secret)

    def list(self, tenant: str) -> list[Webhook]:
        return self._store.list(tenant)

    def remove(self, tenant: str, webhook_id: str) -> None:
        """Delete the record, then its secret; WebhookNotFound when the tenant has no such one."""
        if not self._store.delete(tenant, webhook_id):
            raise WebhookNotFound(webhook_id)
        self._secrets.delete(tenant, webhook_id)
