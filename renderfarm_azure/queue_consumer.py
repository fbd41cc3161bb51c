"""One runner for the farm's queue consumers: dead letters, job events, webhook deliveries.

Each consumer gives a handler (one message in, a Settlement out) and the runner does the rest the
same way for all: PEEK_LOCK receives, one message's failure never stops the others, and one
mapping from a handler's outcome to the message's settlement:

- a Settlement: completed, or dead-lettered with its reason;
- ``UnreadableMessage`` (the body is not what the queue carries): dead-lettered, since no retry
  can help;
- any other exception: abandoned, for Service Bus to deliver again (MaxDeliveryCount
  dead-letters a message that never succeeds). Known transient failures log a warning, anything
  else an error with its traceback.

In Azure each consumer is a Service Bus triggered Function and the host does this; locally each
runs as a process (``serve_forever``) over the same handlers.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusReceivedMessage, ServiceBusReceiver
from azure.servicebus.exceptions import ServiceBusError

from renderfarm.shared.errors import ConcurrentUpdate, DependencyUnavailable, UnreadableMessage
from renderfarm_azure.link_credit import revoke_unused_credit

log = logging.getLogger(__name__)

#: How often a consumer with work in flight looks for finished work and room for more.
POLL_S = 0.1
#: How often a consumer process's main thread wakes to run a pending signal handler.
WAKE_S = 0.25


@dataclass(frozen=True, kw_only=True)
class Settlement:
    """What to do with a handled message: complete it, or dead-letter it with a reason."""

    dead_letter_reason: str | None = None
    description: str = ""


COMPLETE = Settlement()

#: Failures that mean "not now": logged as warnings. Every other exception is logged as an error.
TRANSIENT_ERRORS = (
    AzureError,
    ServiceBusError,
    DependencyUnavailable,
    ConcurrentUpdate,
    OSError,
)

Handler = Callable[[ServiceBusReceivedMessage], Settlement]


@dataclass(frozen=True, kw_only=True)
class ConsumerOptions:
    wait_s: float = 2.0  # how long one receive waits: bounds how fast an idle stop is
    batch: int = 10  # messages per receive, handled one after another
    #: More than 1: handlers run in a pool, this many at once (a slow one holds up no other).
    concurrency: int = 1
    once: bool = False  # stop at the first receive that comes back empty


def settlement_of(handle: Handler, message: ServiceBusReceivedMessage) -> Settlement | None:
    """The handler's settlement for ``message``; None when the message is to be abandoned."""
    try:
        return handle(message)
    except UnreadableMessage as error:
        return Settlement(dead_letter_reason=error.reason, description=str(error)[:1000])
    except TRANSIENT_ERRORS:
        log.warning("message %s left for another try", message.message_id, exc_info=True)
    except Exception:
        log.exception("message %s failed; left for another try", message.message_id)
    return None


def settle(
    receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage, settlement: Settlement | None
) -> None:
    """Apply a settlement (None: abandon). A lock lost first is only logged: Service Bus
    delivers the message again, and every handler is safe to repeat."""
    try:
        if settlement is None:
            receiver.abandon_message(message)
        elif settlement.dead_letter_reason:
            receiver.dead_letter_message(
                message,
                reason=settlement.dead_letter_reason,
                error_description=settlement.description,
            )
        else:
            receiver.complete_message(message)
    except ServiceBusError:
        log.warning("message %s not settled", message.message_id, exc_info=True)


def run(
    receiver: ServiceBusReceiver,
    handle: Handler,
    *,
    stop: threading.Event,
    options: ConsumerOptions | None = None,
) -> int:
    """Handle and settle messages until stopped; returns the messages handled (not abandoned).
    The receiver is used from this thread only: the SDK's is not thread-safe."""
    options = options or ConsumerOptions()
    if options.concurrency > 1:
        return _run_pooled(receiver, handle, stop=stop, options=options)
    handled = 0
    while not stop.is_set():
        messages = _receive(receiver, options.batch, options.wait_s)
        if not messages and options.once:
            break
        for message in messages:
            settlement = settlement_of(handle, message)
            settle(receiver, message, settlement)
            handled += settlement is not None
    return handled


def _run_pooled(
    receiver: ServiceBusReceiver,
    handle: Handler,
    *,
    stop: threading.Event,
    options: ConsumerOptions,
) -> int:
    """Handlers in a pool, ``concurrency`` at a time, each message settled here as soon as its
    handler is done; on stop, what is in flight finishes and is settled."""
    handled = 0
    with ThreadPoolExecutor(options.concurrency, thread_name_prefix="consumer") as pool:
        pending: dict[Future[Settlement | None], ServiceBusReceivedMessage] = {}
        while not stop.is_set() or pending:
            room = 0 if stop.is_set() else options.concurrency - len(pending)
            if room:
                batch = _receive(receiver, room, POLL_S if pending else options.wait_s)
                if not batch and not pending and options.once:
                    break
                for message in batch:
                    future = pool.submit(settlement_of, handle, message)
                    pending[future] = message
            done, _ = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                settlement = future.result()
                settle(receiver, pending.pop(future), settlement)
                handled += settlement is not None
    return handled


def _receive(
    receiver: ServiceBusReceiver, count: int, wait_s: float
) -> list[ServiceBusReceivedMessage]:
    """Up to ``count`` messages; the credit a short batch leaves on the link is taken back, or
    the broker would lock messages to this consumer while it handles the batch: an abandoned
    one among them would wait there, out of every receive's reach (renderfarm_azure/link_credit.py).
    """
    messages = receiver.receive_messages(max_message_count=count, max_wait_time=wait_s)
    if len(messages) < count:
        revoke_unused_credit(receiver)
    return messages


def serve_forever(consumers: Sequence[Callable[[threading.Event], object]]) -> int:
    """A consumer process: JSON logs, SIGTERM and SIGINT stop it, each consumer in its own
    thread (each with its own clients: the SDK's are not thread-safe) until all have stopped."""
    from renderfarm.shared.json_logging import configure_json_logging  # noqa: PLC0415 (entry point)

    configure_json_logging()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threads = [
        threading.Thread(target=consumer, args=(stop,), name=f"consumer-{number}")
        for number, consumer in enumerate(consumers)
    ]
    for thread in threads:
        thread.start()
    # Timed joins: the main thread must run Python now and then, or a SIGTERM that lands just
    # before an untimed join blocks would leave its handler pending for good.
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(WAKE_S)
    return 0
