"""POST/GET/DELETE /api/webhooks over the wire: the secret shown once, the URL rules, the limit,
tenant isolation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook as StandardWebhook

from renderfarm.shared.settings import Settings
from renderfarm.webhooks.rules import MAX_WEBHOOKS_PER_TENANT
from testbed.emulators import Azurite, ServiceBusEmulator
from tests.api.conftest import auth, settings_for
from tests.webhooks.conftest import Hooks

URL = "http://127.0.0.1:9/hook"  # development: plain http to this machine is allowed


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = dict(response.json())
    assert body["status"] == status and body["type"].endswith(slug), body
    return body


def test_a_webhook_is_created_with_its_secret_shown_once(hooks: Hooks) -> None:
    response = hooks.api.post(
        "/api/webhooks",
        json={"url": URL, "events": ["job.completed", "job.failed", "job.completed"]},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["url"] == URL and created["events"] == ["job.completed", "job.failed"]
    assert created["secret"].startswith("whsec_")
    StandardWebhook(created["secret"])  # the library takes it
    assert response.headers["location"] == f"/api/webhooks/{created['id']}"
    [listed] = hooks.listed()
    assert listed["id"] == created["id"] and "secret" not in listed
    assert listed["deliveries"] == {
        "attempts": 0,
        "deliveries": 0,
        "failures": 0,
        "last_status": None,
        "last_error": None,
        "last_attempt_at": None,
        "last_delivered_at": None,
    }


def test_the_secret_is_stored_apart_from_the_record(hooks: Hooks) -> None:
    created = hooks.register(URL)
    container = hooks.services.store.container
    record = container.download_blob(f"webhooks/acme/{created['id']}.json").readall()
    assert created["secret"].encode() not in record
    stored = container.download_blob(f"webhook-secrets/acme/{created['id']}").readall()
    assert stored.decode() == created["secret"]


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/hook",
        "https://[fd00:ec2::254]/",
        "https://192.168.1.20/hook",
        "https://no-such-host.invalid/hook",  # does not resolve
    ],
)
def test_a_url_the_farm_may_not_call_gets_a_403_naming_the_url(hooks: Hooks, url: str) -> None:
    response = hooks.api.post(
        "/api/webhooks", json={"url": url, "events": ["job.completed"]}, headers=auth()
    )
    body = assert_problem(response, 403, "webhook-url-rejected")
    assert body["errors"][0]["field"] == "url"
    assert hooks.listed() == []


@pytest.mark.parametrize(
    "url",
    [
        "0",
        "http://example.com/hook",  # not https
        "http://169.254.169.254/metadata/instance",
        "https://user:password@example.com/hook",
        "https://example.com/hook#fragment",
        "https://example.com:65536/hook",
    ],
)
def test_a_url_the_document_refuses_gets_a_422_naming_the_url(hooks: Hooks, url: str) -> None:
    response = hooks.api.post(
        "/api/webhooks", json={"url": url, "events": ["job.completed"]}, headers=auth()
    )
    body = assert_problem(response, 422, "validation")
    assert body["errors"][0]["field"] == "url"
    assert hooks.listed() == []


def test_a_host_resolving_to_this_machine_is_refused_outside_development(
    azurite: Azurite,
    hooks_bus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    settings = settings_for(azurite, hooks_bus, environment="production")
    api = make_client(settings)
    for url in ("https://localhost:8443/hook", "http://localhost:8080/hook", "http://127.0.0.1/"):
        response = api.post(
            "/api/webhooks", json={"url": url, "events": ["job.completed"]}, headers=auth()
        )
        assert_problem(response, 403, "webhook-url-rejected")


def test_an_unknown_event_type_gets_a_422(hooks: Hooks) -> None:
    for events in (["job.exploded"], [], ["job.completed", "chunk.rendered"], "job.completed"):
        response = hooks.api.post(
            "/api/webhooks", json={"url": URL, "events": events}, headers=auth()
        )
        body = assert_problem(response, 422, "validation")
        assert any(e["field"].startswith("events") for e in body["errors"]), body


def test_the_21st_webhook_of_a_tenant_gets_a_409(hooks: Hooks) -> None:
    for _ in range(MAX_WEBHOOKS_PER_TENANT):
        hooks.register(URL)
    response = hooks.api.post(
        "/api/webhooks", json={"url": URL, "events": ["job.failed"]}, headers=auth()
    )
    assert_problem(response, 409, "too-many-webhooks")
    assert len(hooks.listed()) == MAX_WEBHOOKS_PER_TENANT
    hooks.register(URL, tenant="globex")  # the limit is per tenant


def test_webhooks_are_per_tenant(hooks: Hooks) -> None:
    created = hooks.register(URL)
    assert hooks.listed("globex") == []
    other = hooks.api.delete(f"/api/webhooks/{created['id']}", headers=auth("globex"))
    assert_problem(other, 404, "webhook-not-found")
    assert [w["id"] for w in hooks.listed()] == [created["id"]]
    deleted = hooks.api.delete(f"/api/webhooks/{created['id']}", headers=auth())
    assert deleted.status_code == 204 and deleted.content == b""
    assert hooks.listed() == []
    again = hooks.api.delete(f"/api/webhooks/{created['id']}", headers=auth())
    assert_problem(again, 404, "webhook-not-found")


def test_delete_removes_the_secret_too(hooks: Hooks) -> None:
    created = hooks.register(URL)
    assert hooks.api.delete(f"/api/webhooks/{created['id']}", headers=auth()).status_code == 204
    names = list(hooks.services.store.container.list_blob_names())
    assert names == []


def test_webhooks_need_a_key_and_a_well_formed_id(hooks: Hooks) -> None:
    assert hooks.api.get("/api/webhooks").status_code == 401
    assert (
        hooks.api.post("/api/webhooks", json={"url": URL, "events": ["job.failed"]}).status_code
        == 401
    )
    assert hooks.api.delete("/api/webhooks/not-an-id", headers=auth()).status_code == 422
