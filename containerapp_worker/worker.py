"""The worker loop: receive one message (PEEK_LOCK, no prefetch), render its chunk, settle it.

A replica holds at most one message at a time, so KEDA's queue length is the farm's backlog and a
killed replica strands at most one chunk, which comes back when its lock expires.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.servicebus import ServiceBusClient, ServiceBusReceivedMessage, ServiceBusReceiver
from azure.servicebus.exceptions import ServiceBusError

from containerapp_worker.chunk_renderer import ChunkRenderer, Outcome, Verdict
from containerapp_worker.lock_renewer import LockRenewer
from containerapp_worker.telemetry import chunks_settled, idle_seconds, trace_context, tracer
from renderfarm.messages import ChunkMessage, MessageFormatError

log = logging.getLogger(__name__)

#: Renew when a third of the lock is left... of its duration, so two renewals can fail in a row.
RENEW_FRACTION = 1 / 3
MIN_RENEW_EVERY_S = 0.5


@dataclass(frozen=True, kw_only=True)
class WorkerOptions:
    queue_name: str
    once: bool = False  # Container Apps Jobs: one message per execution
    max_messages: int = 0  # 0: until stopped
    receive_wait_s: float = 2.0  # how long one receive waits; bounds how fast an idle stop is


class Worker:
    def __init__(
        self,
        *,
        client: ServiceBusClient,
        chunks: ChunkRenderer,
        options: WorkerOptions,
        stop: threading.Event,
    ) -> None:
        self._client = client
        self._chunks = chunks
        self._options = options
        self._stop = stop
        self._settle_lock = threading.Lock()
        self._current: tuple[ServiceBusReceiver, ServiceBusReceivedMessage] | None = None
        self._renewer: LockRenewer | None = None
        self.idle = threading.Event()
        self.idle.set()

    def run(self) -> int:
        """Handle messages until stopped; return how many were handled."""
        handled = 0
        with self._client.get_queue_receiver(
            self._options.queue_name, prefetch_count=0
        ) as receiver:
            log.info("worker ready on %s", self._options.queue_name, extra={"status": "ready"})
            while not self._stop.is_set():
                waited = time.perf_counter()
                messages = receiver.receive_messages(
                    max_message_count=1, max_wait_time=self._options.receive_wait_s
                )
                idle_seconds.record(time.perf_counter() - waited)
                if not messages:
                    if self._options.once:
                        break
                    continue
                self._handle(receiver, messages[0])
                handled += 1
                if self._options.once or handled == self._options.max_messages:
                    break
        return handled

    def _handle(self, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage) -> None:
        self.idle.clear()
        self._current = (receiver, message)
        try:
            if self._stop.is_set():  # arrived as we were told to stop: hand it straight back
                self._settle(receiver, message, Outcome(verdict=Verdict.ABANDON, reason="Stopping"))
                return
            context = trace_context(message.application_properties)
            with tracer.start_as_current_span("process-chunk-message", context=context):
                self._settle(receiver, message, self._process(receiver, message))
        finally:
            self._current = None
            self.idle.set()

    def _process(self, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage) -> Outcome:
        try:
            chunk = ChunkMessage.from_json(b"".join(message.body))
        except MessageFormatError as error:
            return Outcome(verdict=Verdict.DEAD_LETTER, reason="BadMessage", description=str(error))
        renewer = LockRenewer(
            lambda: receiver.renew_message_lock(message), every_s=_renew_every(message)
        )
        self._renewer = renewer
        with renewer:
            return self._chunks.render(chunk, lock_lost=renewer.lost)

    def _settle(
        self, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage, outcome: Outcome
    ) -> None:
        with self._settle_lock:
            if self._current is None:  # the stop path settled it already
                return
            try:
                if outcome.verdict is Verdict.COMPLETE:
                    receiver.complete_message(message)
                elif outcome.verdict is Verdict.DEAD_LETTER:
                    receiver.dead_letter_message(
                        message, reason=outcome.reason, error_description=outcome.description[:1000]
                    )
                else:
                    receiver.abandon_message(message)
            except ServiceBusError:
                # The lock is gone: the message comes back, and frames in Blob are skipped.
                log.warning("could not settle %s", message.message_id, exc_info=True)
            chunks_settled.add(1, {"verdict": outcome.verdict.value})
            log.info(
                "chunk %s: %s %s",
                message.message_id,
                outcome.verdict.value,
                outcome.reason,
                extra={"status": outcome.verdict.value},
            )
            self._current = None

    def abandon_now(self) -> None:
        """From the stop thread while Blender is mid-frame: hand the message back at once."""
        if self._renewer is not None:
            self._renewer.stop()  # one management call at a time on the receiver
        current = self._current
        if current is not None:
            self._settle(
                current[0], current[1], Outcome(verdict=Verdict.ABANDON, reason="Stopping")
            )


def _renew_every(message: ServiceBusReceivedMessage) -> float:
    if message.locked_until_utc is None:
        return 10.0
    left = (message.locked_until_utc - datetime.now(UTC)).total_seconds()
    return max(MIN_RENEW_EVERY_S, left * RENEW_FRACTION)
