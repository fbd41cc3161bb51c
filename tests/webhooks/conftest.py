"""Fixtures for webhooks over the wire: Azurite, an emulator with the deliveries queue, the API
in-process, the deliveries consumer in a thread and real HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusReceiveMode, ServiceBusSubQueue
from fastapi.testclient import TestClient

from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.shared.settings import Settings
from renderfarm_azure.webhooks.deliver import serve
from renderfarm_azure.webhooks.services import WebhookServices, webhook_services
from testbed.emulators import Azurite, ServiceBusEmulator, run_servicebus, write_config
from tests.api.conftest import auth, settings_for

DELIVERIES_QUEUE = "webhook-deliveries"
QUEUE_PROPERTIES = {
    "DeadLetteringOnMessageExpiration": True,
    "DefaultMessageTimeToLive": "P14D",
    "DuplicateDetectionHistoryTimeWindow": "PT10M",
    "LockDuration": "PT1M",
    "MaxDeliveryCount": 10,
    "RequiresDuplicateDetection": True,
    "RequiresSession": False,
}
WAIT_S = 20.0


@pytest.fixture(scope="session")
def hooks_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceBusEmulator]:
    folder = tmp_path_factory.mktemp("hooks-bus")
    config = write_config(
        folder / "config.json",
        {"render-chunks-5.3": QUEUE_PROPERTIES, DELIVERIES_QUEUE: QUEUE_PROPERTIES},
    )
    with run_servicebus(folder / "data", Path(config)) as service:
        yield service


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 answering each POST from a script: (status, seconds to wait
    first); after the script, the last entry again."""

    script: Sequence[tuple[int, float]]
    requests: list[Request] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def answer(self) -> tuple[int, float]:
        return self.script[min(len(self.requests) - 1, len(self.script) - 1)]

    def wait_for(self, count: int, timeout: float = WAIT_S) -> list[Request]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} of {count} requests came")
            time.sleep(0.02)
        return list(self.requests)


def start_receiver(receiver: Receiver) -> Receiver:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            receiver.requests.append(
                Request(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    time.monotonic(),
                )
            )
            status, delay = receiver.answer()
            time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                return  # the deliverer gave up on us first

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


@pytest.fixture
def make_receiver() -> Iterator[Callable[..., Receiver]]:
    receivers: list[Receiver] = []

    def make(*script: tuple[int, float]) -> Receiver:
        receiver = start_receiver(Receiver(script=script or ((200, 0.0),)))
        receivers.append(receiver)
        return receiver

    yield make
    for receiver in receivers:
        assert receiver.server is not None
        receiver.server.shutdown()
        receiver.server.server_close()


@dataclass
class Hooks:
    """One test's farm slice: its own containers, the API, the webhooks' adapters."""

    settings: Settings
    api: TestClient
    services: WebhookServices
    bus: ServiceBusEmulator
    stops: list[tuple[threading.Event, threading.Thread]] = field(default_factory=list)

    def register(
        self, url: str, events: Sequence[str] = ("job.completed",), tenant: str = "acme"
    ) -> dict[str, Any]:
        response = self.api.post(
            "/api/webhooks", json={"url": url, "events": list(events)}, headers=auth(tenant)
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def listed(self, tenant: str = "acme") -> list[dict[str, Any]]:
        response = self.api.get("/api/webhooks", headers=auth(tenant))
        assert response.status_code == 200, response.text
        return list(response.json()["webhooks"])

    def start_consumer(self, **options: Any) -> None:
        """The deliveries consumer in a thread, with Deliverer options (policy, timeout_s...)."""
        deliverer = self.services.deliverer(**options)
        stop = threading.Event()

        def run() -> None:
            with ServiceBusClient.from_connection_string(self.bus.connection_string) as client:
                serve(deliverer, client, DELIVERIES_QUEUE, stop=stop, wait_s=0.2)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.stops.append((stop, thread))

    def stop_consumers(self) -> None:
        for stop, thread in self.stops:
            stop.set()
            thread.join(WAIT_S)
        self.stops.clear()


def job_event(event_type: EventType = EventType.JOB_COMPLETED, tenant: str = "acme") -> JobEvent:
    return JobEvent(type=event_type, job_id=uuid.uuid4().hex, tenant=tenant, at=datetime.now(UTC))


def summary_of(event: JobEvent) -> dict[str, Any]:
    return {
        "id": event.job_id,
        "state": "completed",
        "frames": {"total": 8, "done": 8, "failed": 0},
        "timings": {"created_at": "2026-05-01T12:00:00+00:00", "finished_at": None},
        "preview": None,
        "cost": {"estimated_usd": 0.0012},
    }


@pytest.fixture
def hooks(
    azurite: Azurite,
    hooks_bus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> Iterator[Hooks]:
    settings = settings_for(
        azurite,
        hooks_bus,
        environment="development",
        webhooks_container=f"webhooks-{uuid.uuid4().hex[:10]}",
        webhook_deliveries_queue=DELIVERIES_QUEUE,
    )
    services = webhook_services(settings)
    services.ensure_container()
    hooks = Hooks(settings=settings, api=make_client(settings), services=services, bus=hooks_bus)
    try:
        yield hooks
    finally:
        hooks.stop_consumers()  # leftovers (scheduled retries) are dropped by the next test's
        services.close()  # consumer: their webhooks are in this test's container only


def dead_letters(bus: ServiceBusEmulator, prefix: str, timeout: float = WAIT_S) -> list[Any]:
    """Dead-lettered deliveries whose message-id starts with ``prefix`` (received and deleted)."""
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    with (
        ServiceBusClient.from_connection_string(bus.connection_string) as client,
        client.get_queue_receiver(
            DELIVERIES_QUEUE,
            sub_queue=ServiceBusSubQueue.DEAD_LETTER,
            receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE,
        ) as receiver,
    ):
        while not found and time.monotonic() < deadline:
            for message in receiver.receive_messages(max_message_count=10, max_wait_time=0.5):
                if str(message.message_id).startswith(prefix):
                    found.append(message)
    return found
