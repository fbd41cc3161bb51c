"""The app as the Azure Functions host sees it: what it indexes, and one call through it."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest

import function_app
from functions.dead_letter_trigger import dead_letter_queues, jobs_container, lifecycle
from renderfarm.chunks.record import ChunkState
from renderfarm.keys.api_keys import hash_key
from renderfarm.shared.settings import get_settings
from renderfarm_azure.chunk_records import read_chunk_record
from testbed.emulators import Azurite, ServiceBusEmulator
from tests.api.conftest import KEYS, auth


class _Context:
    """The few attributes of func.Context that the ASGI bridge reads."""

    invocation_id = "test-invocation"
    function_name = "http_app_func"
    function_directory = "."
    trace_context = None
    retry_context = None
    thread_local_storage = None


@pytest.fixture(scope="module")
def indexed() -> list[Any]:
    """What the host indexes; get_functions() may be called only once per app."""
    return list(function_app.app.get_functions())


def by_name(indexed: list[Any], name: str) -> Any:
    return next(function for function in indexed if function.get_function_name() == name)


def test_the_host_indexes_the_api_and_the_queue_consumers(indexed: list[Any]) -> None:
    assert sorted(f.get_function_name() for f in indexed) == [
        "dead_letters_5_3",  # one per priority band's chunk queue
        "dead_letters_5_3_high",
        "dead_letters_5_3_low",
        "http_app_func",
        "job_events",
        "project_files_gc",
        "quote_expiry",
        "webhook_deliveries",
    ]


def test_the_host_runs_the_project_files_clean_up_daily(indexed: list[Any]) -> None:
    bindings = json.loads(by_name(indexed, "project_files_gc").get_function_json())["bindings"]
    [trigger] = bindings
    assert (trigger["type"], trigger["schedule"]) == ("timerTrigger", "0 30 3 * * *")


def test_the_host_expires_unapproved_quotes_every_five_minutes(indexed: list[Any]) -> None:
    bindings = json.loads(by_name(indexed, "quote_expiry").get_function_json())["bindings"]
    [trigger] = bindings
    assert (trigger["type"], trigger["schedule"]) == ("timerTrigger", "0 */5 * * * *")


def test_the_events_function_listens_on_the_job_events_queue(indexed: list[Any]) -> None:
    bindings = json.loads(by_name(indexed, "job_events").get_function_json())["bindings"]
    (trigger,) = bindings
    assert (trigger["type"], trigger["queueName"], trigger["connection"]) == (
        "serviceBusTrigger",
        "job-events",
        "ServiceBusConnection",
    )


def test_the_host_indexes_the_webhook_deliveries_consumer(indexed: list[Any]) -> None:
    bindings = json.loads(by_name(indexed, "webhook_deliveries").get_function_json())["bindings"]
    [trigger] = bindings
    assert trigger["type"] == "serviceBusTrigger"
    assert trigger["queueName"] == "webhook-deliveries"
    assert trigger["connection"] == "ServiceBusConnection"


def test_the_host_indexes_one_anonymous_http_function_for_every_route(indexed: list[Any]) -> None:
    function = by_name(indexed, "http_app_func")
    bindings = json.loads(function.get_function_json())["bindings"]
    trigger = next(b for b in bindings if b["type"] == "httpTrigger")
    assert function.get_function_name() == "http_app_func"
    assert trigger["route"] == "/{*route}"
    assert trigger["authLevel"] == "ANONYMOUS"
    assert {"GET", "POST"} <= set(trigger["methods"])
    assert any(b["type"] == "http" and b["direction"] == "OUT" for b in bindings)


async def test_a_request_through_the_function_object_reaches_the_api(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    monkeypatch: pytest.MonkeyPatch,
    indexed: list[Any],
) -> None:
    monkeypatch.setenv("RENDERFARM_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("RENDERFARM_SERVICEBUS_CONNECTION_STRING", servicebus.connection_string)
    monkeypatch.setenv("RENDERFARM_API_KEY_HASHES", f"acme={hash_key(KEYS['acme'])}")
    monkeypatch.setenv("RENDERFARM_JOBS_CONTAINER", "jobs-function-host")
    get_settings.cache_clear()
    try:
        handler = by_name(indexed, "http_app_func").get_user_function()
        request = func.HttpRequest(
            method="GET",
            url="http://localhost:7071/api/jobs?limit=5",
            headers=auth(),
            body=b"",
        )
        response = await handler(request, _Context())
        assert response.status_code == 200, response.get_body()
        assert json.loads(response.get_body()) == {"jobs": [], "next_cursor": None}
        assert response.headers["RateLimit-Limit"] == "120"

        bad = await handler(
            func.HttpRequest(
                method="GET", url="http://localhost:7071/api/jobs", headers={}, body=b""
            ),
            _Context(),
        )
        assert bad.status_code == 401
        assert bad.mimetype == "application/problem+json"
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("band", ["", "-high", "-low"])
def test_dead_letter_function_listens_on_the_default_pools_dead_letter_queue(
    indexed: list[Any], band: str
) -> None:
    name = "dead_letters_5_3" + band.replace("-", "_")
    bindings = json.loads(by_name(indexed, name).get_function_json())["bindings"]
    (trigger,) = bindings
    assert trigger["type"] == "serviceBusTrigger"
    assert trigger["queueName"] == f"render-chunks-5.3{band}/$deadletterqueue"
    assert trigger["connection"] == "ServiceBusConnection"


def test_one_dead_letter_function_is_indexed_per_blender_pool_of_the_settings() -> None:
    queues = dead_letter_queues(
        {"RENDERFARM_BLENDER_VERSIONS": "5.3, 4.5", "RENDERFARM_QUEUE_PREFIX": "chunks"}
    )
    assert queues == {
        f"dead_letters_{v.replace('.', '_')}{band.replace('-', '_')}": (
            f"chunks-{v}{band}/$deadletterqueue"
        )
        for v in ("4.5", "5.3")
        for band in ("-high", "", "-low")
    }
    with_gpu = dead_letter_queues({"RENDERFARM_GPU_WORKERS": "true"})
    assert with_gpu["dead_letters_5_3_gpu_high"] == "render-chunks-5.3-gpu-high/$deadletterqueue"
    assert len(with_gpu) == 6


def test_a_bad_versions_setting_still_indexes_the_default_pool_rather_than_nothing() -> None:
    # An import-time error in a Functions app unregisters every function, the API's too.
    assert list(dead_letter_queues({"RENDERFARM_BLENDER_VERSIONS": "five"})) == [
        "dead_letters_5_3_high",
        "dead_letters_5_3",
        "dead_letters_5_3_low",
    ]


class _DeadLetter(func.ServiceBusMessage):
    """A dead-lettered message as the host hands it to the function."""

    def __init__(self, body: bytes, message_id: str) -> None:
        super().__init__(body=body)
        self._message_id = message_id

    @property
    def message_id(self) -> str:
        return self._message_id

    @property
    def dead_letter_reason(self) -> str:
        return "MaxDeliveryCountExceeded"

    @property
    def dead_letter_error_description(self) -> str:
        return "Message could not be consumed after 5 delivery attempts."

    @property
    def delivery_count(self) -> int:
        return 5


def test_dead_letter_function_marks_the_chunk_failed(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, indexed: list[Any]
) -> None:
    monkeypatch.setenv("RENDERFARM_STORAGE_CONNECTION_STRING", azurite.connection_string)
    # Never reached: the chunk's job has no manifest, so no event is sent.
    monkeypatch.setenv(
        "RENDERFARM_SERVICEBUS_CONNECTION_STRING",
        "Endpoint=sb://127.0.0.1:9;SharedAccessKeyName=k;SharedAccessKey=v",
    )
    monkeypatch.setenv("RENDERFARM_JOBS_CONTAINER", "jobs-dead-letter-function")
    get_settings.cache_clear()
    jobs_container.cache_clear()
    lifecycle.cache_clear()
    try:
        jobs_container().create_container()
        handler = by_name(indexed, "dead_letters_5_3").get_user_function()
        job_id = "0" * 31 + "1"
        handler(_DeadLetter(b"not json", message_id=f"{job_id}:4"))
        record, _ = read_chunk_record(jobs_container(), job_id, 4)
        assert record is not None
        assert record.state is ChunkState.FAILED
        assert record.attempts == 5
        assert record.last_error is not None
        assert record.last_error.startswith("MaxDeliveryCountExceeded")
    finally:
        get_settings.cache_clear()
        jobs_container.cache_clear()
        lifecycle.cache_clear()
