"""Webhooks: subscribe a URL to a tenant's job events, list the subscriptions, remove one."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from functions.deps import TenantDep
from functions.openapi import LOCATION, answers, link
from renderfarm.jobs.events import EventType
from renderfarm.webhooks.rules import Webhook
from renderfarm.webhooks.urls import MAX_URL_LENGTH
from web_deps.services import WebhookRegistryDep

router = APIRouter(tags=["webhooks"])

WebhookId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="32 lower-case hex digits")]

# What a webhook URL is, by its text alone (renderfarm.webhooks.urls): https to a host name, an
# IPv4 or an IPv6 address, or plain http to this machine (a development farm's exception), with
# an optional port, path and query (RFC 3986's characters); no user, password or fragment. Checked
# here as the document states it, so a URL the document calls valid is refused only for what
# its host resolves to, or for plain http outside development: a 403, by the farm's policy.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_H16 = r"[0-9A-Fa-f]{1,4}"
_IPV6 = "|".join(
    (
        rf"(?:{_H16}:){{7}}{_H16}",
        rf"(?:{_H16}:){{1,7}}:",
        *(rf"(?:{_H16}:){{1,{7 - n}}}(?::{_H16}){{1,{n}}}" for n in range(1, 7)),
        rf":(?:(?::{_H16}){{1,7}}|:)",
    )
)
_PORT = r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
# Path and query: the characters RFC 3986 allows there, others percent-encoded.
_REST = r"(?:[/?](?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?"
WEBHOOK_URL_PATTERN = (
    rf"^(?:https://(?:{_LABEL}(?:\.{_LABEL})*\.?|\[(?:{_IPV6})\])"
    rf"|http://(?:127\.0\.0\.1|localhost|\[::1\])){_PORT}{_REST}$"
)


class WebhookCreate(BaseModel):
    """The body of ``POST /api/webhooks``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        json_schema_extra={"format": "uri", "pattern": WEBHOOK_URL_PATTERN},
        description=(
            "https URL that receives the events (POST, signed per Standard Webhooks); plain "
            "http only to 127.0.0.1, localhost or [::1], and only on a development farm. The "
            "host must resolve to public addresses (loopback too, in development)."
        ),
    )
    events: list[EventType] = Field(
        min_length=1, max_length=len(EventType), description="the event types to receive"
    )

    @field_validator("url")
    @classmethod
    def _url_as_documented(cls, url: str) -> str:
        # The pattern, checked here to say so in words rather than quote it.
        if not re.fullmatch(WEBHOOK_URL_PATTERN, url):
            raise ValueError(
                "not an https URL (plain http only to this machine): no user, password or "
                "fragment, the path and query percent-encoded"
            )
        return url


class DeliveryStatsPublic(BaseModel):
    attempts: int = Field(description="POSTs tried, retries included")
    deliveries: int = Field(description="events delivered (answered 2xx)")
    failures: int = Field(description="events given up on after the last try, or refused (4xx)")
    last_status: int | None = Field(description="HTTP status of the last try; null: no answer")
    last_error: str | None
    last_attempt_at: datetime | None
    last_delivered_at: datetime | None


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[EventType]
    created_at: datetime
    deliveries: DeliveryStatsPublic


class WebhookCreatedPublic(BaseModel):
    id: str
    url: str
    events: list[EventType]
    created_at: datetime
    secret: str = Field(
        description="whsec_ signing secret for verifying deliveries; shown this once only"
    )


class WebhookListPublic(BaseModel):
    webhooks: list[WebhookPublic]


def _url(webhook_id: str) -> str:
    return f"/api/webhooks/{webhook_id}"


def _public(webhook: Webhook) -> WebhookPublic:
    return WebhookPublic(
        id=webhook.id,
        url=webhook.url,
        events=list(webhook.events),
        created_at=webhook.created_at,
        deliveries=DeliveryStatsPublic(**webhook.stats.to_dict()),
    )


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookCreatedPublic,
    responses=answers(
        201,
        headers=LOCATION,
        links={
            "DeleteWebhook": link(
                "delete_webhook", "Remove the webhook", webhook_id="$response.body#/id"
            )
        },
        errors={
            400: None,
            409: "The tenant has the most webhooks allowed (`too-many-webhooks`, with `limit`)",
            403: "A URL webhooks may not call (`webhook-url-rejected`): its host does not "
            "resolve or resolves to an address that is not public, or it is plain http on a "
            "farm not in development",
            422: None,
        },
    ),
)
def create_webhook(
    body: WebhookCreate, response: Response, tenant: TenantDep, webhooks: WebhookRegistryDep
) -> WebhookCreatedPublic:
    """Subscribe ``url`` to ``events``. The answer carries the signing secret, shown only here.

    The URL must be https and resolve to public addresses only; a tenant has at most 20 webhooks.
    """
    registered = webhooks.register(tenant, body.url, body.events)
    webhook = registered.webhook
    response.headers["Location"] = _url(webhook.id)
    return WebhookCreatedPublic(
        id=webhook.id,
        url=webhook.url,
        events=list(webhook.events),
        created_at=webhook.created_at,
        secret=registered.secret,
    )


@router.get(
    "/webhooks",
    response_model=WebhookListPublic,
    responses=answers(
        200,
        links={
            "DeleteFirstWebhook": link(
                "delete_webhook",
                "Remove the oldest webhook",
                webhook_id="$response.body#/webhooks/0/id",
            )
        },
        errors={},
    ),
)
def list_webhooks(tenant: TenantDep, webhooks: WebhookRegistryDep) -> WebhookListPublic:
    """The tenant's webhooks with their delivery stats (never their secrets), oldest first."""
    return WebhookListPublic(webhooks=[_public(w) for w in webhooks.list(tenant)])


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    response_class=Response,
    responses=answers(
        204,
        errors={404: "No such webhook for this key's tenant (`webhook-not-found`)", 422: None},
    ),
)
def delete_webhook(webhook_id: WebhookId, tenant: TenantDep, webhooks: WebhookRegistryDep) -> None:
    """Remove the webhook and its secret; deliveries already queued for it are dropped."""
    webhooks.remove(tenant, webhook_id)
