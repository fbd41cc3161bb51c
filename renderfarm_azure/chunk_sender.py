"""The ChunkQueue port over one Service Bus sender, reused across requests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSender
from azure.servicebus.exceptions import MessageSizeExceededError, ServiceBusError

from renderfarm.circuit_breaker import CircuitBreaker
from renderfarm.messages import CONTENT_TYPE, SUBJECT, ChunkMessage
from renderfarm_azure.guard import guarded

#: Total time one batch may take, retries included.
SEND_TIMEOUT_S = 10.0


def to_servicebus(message: ChunkMessage, trace_context: Mapping[str, str]) -> ServiceBusMessage:
    return ServiceBusMessage(
        message.to_json(),
        message_id=message.message_id,
        content_type=CONTENT_TYPE,
        subject=SUBJECT,
        application_properties=message.application_properties(trace_context),  # type: ignore[arg-type]
    )


class ServiceBusChunkQueue:
    """Sends in as few batches as fit. The SDK's sender is not thread-safe: one send at a time."""

    def __init__(self, *, client: ServiceBusClient, queue_name: str, breaker: CircuitBreaker):
        self._client = client
        self._queue_name = queue_name
        self._breaker = breaker
        self._sender: ServiceBusSender | None = None
        self._lock = threading.Lock()

    def send(self, messages: Sequence[ChunkMessage], trace_context: Mapping[str, str]) -> None:
        with self._lock:
            self._through_sender(lambda: self._send_all(messages, trace_context))

    def check(self) -> None:
        """Open the link (CBS auth + attach): proof the namespace answers."""
        with self._lock:
            self._through_sender(lambda: self._get_sender().create_message_batch())

    def _through_sender(self, call: Callable[[], object]) -> None:
        succeeded = False
        try:
            guarded(self._breaker, call)
            succeeded = True
        finally:
            if not succeeded:
                self._drop_sender()  # a broken link is rebuilt on the next call

    def _send_all(self, messages: Sequence[ChunkMessage], trace_context: Mapping[str, str]) -> None:
        sender = self._get_sender()
        batch = sender.create_message_batch()
        for message in messages:
            item = to_servicebus(message, trace_context)
            try:
                batch.add_message(item)
            except MessageSizeExceededError:
                sender.send_messages(batch, timeout=SEND_TIMEOUT_S)
                batch = sender.create_message_batch()
                batch.add_message(item)
        if len(batch):
            sender.send_messages(batch, timeout=SEND_TIMEOUT_S)

    def _get_sender(self) -> ServiceBusSender:
        if self._sender is None:
            self._sender = self._client.get_queue_sender(self._queue_name)
        return self._sender

    def _drop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            try:
                sender.close()
            except (ServiceBusError, OSError):
                return  # closing a broken link may fail; it is being discarded anyway

    def close(self) -> None:
        with self._lock:
            self._drop_sender()
