"""Webhook records as JSON blobs, ``webhooks/<tenant>/<id>.json`` in the ``webhooks`` container.

A container of their own, apart from ``jobs``: the workers, which open untrusted scenes, can
write ``jobs`` but get no role on this one, so they can neither read where a tenant's events go
nor redirect them. A tenant has at most 20 webhooks, so reading all of a tenant's records for
each event costs one listing and at most 20 small downloads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings

from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.conditional_update import KeptChanging, update_conditionally
from renderfarm.shared.errors import ConcurrentUpdate
from renderfarm.webhooks.rules import DeliveryStats, TooManyWebhooks, Webhook, is_webhook_id
from renderfarm_azure.conditional_blob import upload_over
from renderfarm_azure.guard import guarded

RECORDS_PREFIX = "webhooks/"
#: Tries of a stats update against concurrent writers of the same record.
WRITE_ATTEMPTS = 8
_JSON = ContentSettings(content_type="application/json")

StatsChange = Callable[[DeliveryStats], DeliveryStats]


class StatsContention(KeptChanging):
    """The record changed under every attempt of a stats update."""


def tenant_prefix(tenant: str) -> str:
    return f"{RECORDS_PREFIX}{tenant}/"


def record_blob(tenant: str, webhook_id: str) -> str:
    return f"{tenant_prefix(tenant)}{webhook_id}.json"


class WebhookStore:
    """Create, read, list, delete webhooks and update their delivery stats (etag-guarded)."""

    def __init__(self, *, container: ContainerClient, breaker: CircuitBreaker):
        self._container = container
        self._breaker = breaker

    @property
    def container(self) -> ContainerClient:
        return self._container

    def create(self, webhook: Webhook, *, limit: int) -> None:
        """Store a new webhook unless the tenant has ``limit`` already (TooManyWebhooks).

        Counted before and after writing: of two registrations racing for the last place, both
        may be refused, never both kept.
        """
        if self._count(webhook.tenant) >= limit:
            raise TooManyWebhooks(limit)
        blob = self._container.get_blob_client(record_blob(webhook.tenant, webhook.id))
        guarded(
            self._breaker,
            lambda: blob.upload_blob(webhook.to_json(), overwrite=False, content_settings=_JSON),
        )
        if self._count(webhook.tenant) > limit:
            self.delete(webhook.tenant, webhook.id)
            raise TooManyWebhooks(limit)

    def get(self, tenant: str, webhook_id: str) -> Webhook | None:
        found = self._read(tenant, webhook_id)
        return found[0] if found else None

    def list(self, tenant: str) -> list[Webhook]:
        """The tenant's webhooks, oldest first."""
        names = guarded(
            self._breaker,
            lambda: list(self._container.list_blob_names(name_starts_with=tenant_prefix(tenant))),
        )
        webhooks = [
            self.get(tenant, name.rsplit("/", 1)[-1].removesuffix(".json")) for name in names
        ]
        return sorted((w for w in webhooks if w is not None), key=lambda w: (w.created_at, w.id))

    def delete(self, tenant: str, webhook_id: str) -> bool:
        """Remove the record; False when there was none."""
        if not is_webhook_id(webhook_id):
            return False
        blob = self._container.get_blob_client(record_blob(tenant, webhook_id))
        try:
            guarded(self._breaker, blob.delete_blob)
        except ResourceNotFoundError:
            return False
        return True

    def update_stats(self, tenant: str, webhook_id: str, change: StatsChange) -> Webhook | None:
        """Apply ``change`` to the record's stats over the version read; None when it is gone."""
        blob = self._container.get_blob_client(record_blob(tenant, webhook_id))

        def read() -> tuple[Webhook | None, str | None]:
            found = self._read(tenant, webhook_id)
            return (None, None) if found is None else found

        def write(webhook: Webhook | None, etag: str | None) -> str:
            assert webhook is not None and etag is not None  # only a record read is changed
            try:
                return upload_over(
                    blob, webhook.to_json(), etag, content_settings=_JSON, breaker=self._breaker
                )
            except ResourceNotFoundError as error:  # deleted meanwhile: read again, find none
                raise ConcurrentUpdate(f"webhook {tenant}/{webhook_id} was deleted") from error

        def changed(current: Webhook | None) -> Webhook | None:
            return None if current is None else replace(current, stats=change(current.stats))

        return update_conditionally(
            read=read,
            change=changed,
            write=write,
            attempts=WRITE_ATTEMPTS,
            what=f"webhook {tenant}/{webhook_id}",
            contention=StatsContention,
        ).value

    def _read(self, tenant: str, webhook_id: str) -> tuple[Webhook, str] | None:
        if not is_webhook_id(webhook_id):
            return None
        blob = self._container.get_blob_client(record_blob(tenant, webhook_id))
        try:
            download = guarded(self._breaker, blob.download_blob)
            body = guarded(self._breaker, download.readall)
        except ResourceNotFoundError:
            return None
        return Webhook.from_json(body), str(download.properties.etag)

    def _count(self, tenant: str) -> int:
        prefix = tenant_prefix(tenant)
        return guarded(
            self._breaker,
            lambda: sum(1 for _ in self._container.list_blob_names(name_starts_with=prefix)),
        )
