"""The tenant's webhooks: the list, adding one (its secret shown once), removing one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from dashboard.deps import FormDep, Signed, SignedDep, one
from dashboard.pages import DashboardRoute, NotFoundPage, page
from renderfarm.jobs.events import EventType
from renderfarm.shared import blob_layout as layout
from renderfarm.webhooks.rules import TooManyWebhooks
from renderfarm.webhooks.urls import WebhookUrlRejected
from web_deps.services import WebhookRegistryDep

router = APIRouter(route_class=DashboardRoute)


def _webhooks_context(signed: Signed, webhooks: WebhookRegistryDep) -> dict[str, Any]:
    return {
        "signed": signed,
        "webhooks": webhooks.list(signed.tenant),
        "event_types": [event.value for event in EventType],
        "page": "webhooks",
        "created": None,
        "error": None,
    }


@router.get("/webhooks", response_class=HTMLResponse)
def webhookspage(request: Request, signed: SignedDep, webhooks: WebhookRegistryDep) -> HTMLResponse:
    return page(request, "webhooks.html", _webhooks_context(signed, webhooks))


@router.post("/webhooks", response_class=HTMLResponse)
def add_webhook(
    request: Request, signed: SignedDep, form: FormDep, webhooks: WebhookRegistryDep
) -> HTMLResponse:
    signed.check_csrf(one(form, "csrf"))
    url = (one(form, "url") or "").strip()
    chosen = [EventType(e) for e in form.get("events", []) if e in {t.value for t in EventType}]
    error = None
    created = None
    if not url or not chosen:
        error = "Give an https URL and at least one event."
    else:
        try:
            created = webhooks.register(signed.tenant, url, chosen)
        except (WebhookUrlRejected, TooManyWebhooks) as refused:
            error = str(refused)
    context = {**_webhooks_context(signed, webhooks), "created": created, "error": error}
    return page(request, "webhooks.html", context, 422 if error else 201)


@router.post("/webhooks/{webhook_id}/delete")
def remove_webhook(
    webhook_id: str, signed: SignedDep, form: FormDep, webhooks: WebhookRegistryDep
) -> Response:
    signed.check_csrf(one(form, "csrf"))
    if not layout.is_job_id(webhook_id):  # the same 32 hex digits
        raise NotFoundPage(webhook_id)
    webhooks.remove(signed.tenant, webhook_id)
    return RedirectResponse("/webhooks", status_code=303)
