"""One Service Bus sender per queue, reused across requests, rebuilt when its link breaks.

The SDK's sender is not thread-safe: every call goes through one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSender
from azure.servicebus.exceptions import MessageSizeExceededError, ServiceBusError

from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm_azure.guard import guarded

#: Total time one batch may take, retries included.
SEND_TIMEOUT_S = 10.0
#: Messages per schedule or cancel request (each is one management call, its size bounded).
SCHEDULE_BATCH = 100


class QueueSenders:
    def __init__(self, *, client: ServiceBusClient, breaker: CircuitBreaker):
        self._client = client
        self._breaker = breaker
        self._senders: dict[str, ServiceBusSender] = {}
        self._lock = threading.Lock()

    def send(self, queue: str, messages: Sequence[ServiceBusMessage]) -> None:
        """Send in as few batches as fit, or raise DependencyUnavailable."""
        self._call(queue, lambda sender: _send_batched(sender, messages))

    def schedule(
        self, queue: str, messages: Sequence[ServiceBusMessage], at: datetime
    ) -> tuple[int, ...]:
        """Schedule the messages for ``at``; their sequence numbers, to cancel them by."""
        numbers: list[int] = []

        def schedule_all(sender: ServiceBusSender) -> None:
            for start in range(0, len(messages), SCHEDULE_BATCH):
                part = list(messages[start : start + SCHEDULE_BATCH])
                numbers.extend(sender.schedule_messages(part, at, timeout=SEND_TIMEOUT_S))

        self._call(queue, schedule_all)
        return tuple(numbers)

    def cancel_scheduled(self, queue: str, sequence_numbers: Sequence[int]) -> None:
        def cancel_all(sender: ServiceBusSender) -> None:
            for start in range(0, len(sequence_numbers), SCHEDULE_BATCH):
                part = list(sequence_numbers[start : start + SCHEDULE_BATCH])
                sender.cancel_scheduled_messages(part, timeout=SEND_TIMEOUT_S)

        self._call(queue, cancel_all)

    def open_link(self, queue: str) -> None:
        """CBS auth and attach: proof the namespace and the queue answer."""
        self._call(queue, lambda sender: sender.create_message_batch())

    def _call(self, queue: str, call: Callable[[ServiceBusSender], object]) -> None:
        with self._lock:
            succeeded = False
            try:
                guarded(self._breaker, lambda: call(self._sender(queue)))
                succeeded = True
            finally:
                if not succeeded:
                    self._drop(queue)  # a broken link is rebuilt on the next call

    def _sender(self, queue: str) -> ServiceBusSender:
        if queue not in self._senders:
            self._senders[queue] = self._client.get_queue_sender(queue)
        return self._senders[queue]

    def _drop(self, queue: str) -> None:
        sender = self._senders.pop(queue, None)
        if sender is not None:
            try:
                sender.close()
            except (ServiceBusError, OSError):
                return  # closing a broken link may fail; it is being discarded anyway

    def close(self) -> None:
        with self._lock:
            for queue in list(self._senders):
                self._drop(queue)


def _send_batched(sender: ServiceBusSender, messages: Sequence[ServiceBusMessage]) -> None:
    batch = sender.create_message_batch()
    for message in messages:
        try:
            batch.add_message(message)
        except MessageSizeExceededError:
            sender.send_messages(batch, timeout=SEND_TIMEOUT_S)
            batch = sender.create_message_batch()
            batch.add_message(message)
    if len(batch):
        sender.send_messages(batch, timeout=SEND_TIMEOUT_S)
