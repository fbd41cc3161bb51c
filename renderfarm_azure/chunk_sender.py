"""The ChunkQueue port over one Service Bus sender per Blender pool's queue, reused across
requests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSender
from azure.servicebus.exceptions import MessageSizeExceededError, ServiceBusError

from renderfarm.blend_header import BlenderVersion
from renderfarm.blender_pools import queue_name
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

    def __init__(
        self,
        *,
        client: ServiceBusClient,
        queue_prefix: str,
        blenders: Sequence[BlenderVersion],
        breaker: CircuitBreaker,
    ):
        self._client = client
        self._queues = {str(version): queue_name(queue_prefix, version) for version in blenders}
        self._breaker = breaker
        self._senders: dict[str, ServiceBusSender] = {}
        self._lock = threading.Lock()

    def send(
        self, blender: str, messages: Sequence[ChunkMessage], trace_context: Mapping[str, str]
    ) -> None:
        queue = self._queues[blender]  # the job service routes only to pools the farm runs
        with self._lock:
            self._through_sender(queue, lambda: self._send_all(queue, messages, trace_context))

    def check(self) -> None:
        """Open a link (CBS auth + attach) to each pool's queue: proof the namespace answers."""
        with self._lock:
            for queue in self._queues.values():
                self._through_sender(queue, partial(self._open_link, queue))

    def _through_sender(self, queue: str, call: Callable[[], object]) -> None:
        succeeded = False
        try:
            guarded(self._breaker, call)
            succeeded = True
        finally:
            if not succeeded:
                self._drop_sender(queue)  # a broken link is rebuilt on the next call

    def _send_all(
        self, queue: str, messages: Sequence[ChunkMessage], trace_context: Mapping[str, str]
    ) -> None:
        sender = self._sender(queue)
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

    def _open_link(self, queue: str) -> None:
        self._sender(queue).create_message_batch()

    def _sender(self, queue: str) -> ServiceBusSender:
        if queue not in self._senders:
            self._senders[queue] = self._client.get_queue_sender(queue)
        return self._senders[queue]

    def _drop_sender(self, queue: str) -> None:
        sender = self._senders.pop(queue, None)
        if sender is not None:
            try:
                sender.close()
            except (ServiceBusError, OSError):
                return  # closing a broken link may fail; it is being discarded anyway

    def close(self) -> None:
        with self._lock:
            for queue in list(self._senders):
                self._drop_sender(queue)
