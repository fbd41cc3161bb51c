"""The worker loop: receive one message (PEEK_LOCK, no prefetch), render its chunk, settle it.

A worker serves its pool's queues, one per priority band, highest first, and takes the first
message it gets. Right after a chunk it peeks at each higher band (one management round trip, no
lock, no credit) and asks only a band that holds something with a short wait (PROBE_WAIT_S): the
next chunk starts a few round trips after the last, not after a wait on an empty higher band
(the SDK's receive waits in steps of its 0.2 s socket timeout, so even a short wait on an empty
queue costs 0.2 s: bench/bench_farm.py saw it in every gap between a job's chunks).
Once a pass finds nothing the worker is idle, and each pass shares ``receive_wait_s`` among the
queues by ``idle_shares`` (equally unless told: a pool's normal band, where jobs go unless they
say otherwise, gets the largest share, containerapp_worker/app.py): a message in any band waits
at most one pass less its own queue's share, and an idle worker makes one receive per queue per
pass, a bounded request rate (tests/worker/test_priority_bands). A high message waits at most for
the chunk in progress.

A replica holds at most one message at a time, so KEDA's queue length is the farm's backlog and a
killed replica strands at most one chunk, which comes back when its lock expires.

No exception leaves a message locked: whatever goes wrong while handling one (bpy, the SDK, our
own code), the message is settled, abandoned unless the chunk said otherwise, before the loop goes
on. The loop then serves the next message, or returns with ``in_doubt`` set, for the process to
exit with EXIT_IN_DOUBT and be replaced (Container Apps and the local autoscaler start a fresh
replica), when this replica's state is in doubt:

* Blender raised an exception none of ours, or memory ran out (errors.StateInDoubt);
* unexpected errors hit two different messages in a row (the same message failing again is the
  message's fault: MaxDeliveryCount dead-letters it);
* settling failed with an exception the SDK does not document;
* receiving failed ``max_receive_failures`` times in a row, each after the SDK's own retries, or
  the receiver could not be opened at all: a fresh replica reconnects.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from azure.servicebus import ServiceBusClient, ServiceBusReceivedMessage, ServiceBusReceiver
from azure.servicebus.exceptions import ServiceBusError
from opentelemetry import context as otel_context
from opentelemetry.context import Context

from containerapp_worker.chunk_outcome import Health, Outcome, Verdict
from containerapp_worker.chunk_renderer import ChunkRenderer
from containerapp_worker.errors import StateInDoubt, UnexpectedError
from containerapp_worker.held_messages import HeldMessages
from containerapp_worker.lock_renewer import LockRenewer
from containerapp_worker.telemetry import chunks_settled, idle_seconds, trace_context, tracer
from renderfarm.jobs.chunk_messages import ChunkMessage, MessageFormatError
from renderfarm_azure.link_credit import revoke_unused_credit

log = logging.getLogger(__name__)

#: Renew when a third of the lock has passed; a failed renewal is retried every RENEW_RETRY_S for
#: the two thirds left, so the lock outlives a Service Bus outage shorter than that
#: (docs/reliability.md "Lock duration and renewal").
RENEW_FRACTION = 1 / 3
RENEW_RETRY_S = 2.0
MIN_RENEW_EVERY_S = 0.5
#: Where a message says nothing of its lock (it always does in PEEK_LOCK mode).
UNKNOWN_LOCK_S = 30.0
#: The exit status of a replica whose state is in doubt: the platform starts a fresh one.
EXIT_IN_DOUBT = 3
#: How long a receive waits on a queue right after a chunk: long enough for a message already
#: there to arrive (a flow and a transfer, a few milliseconds in one region). The SDK waits in
#: steps of its socket timeout (0.2 s), so an empty queue costs that much whatever this says:
#: an empty higher band is peeked at instead (``_holds_nothing``), not received from.
PROBE_WAIT_S = 0.05


@dataclass(frozen=True, kw_only=True)
class WorkerOptions:
    queue_name: str = ""  # one queue; or queue_names
    #: The queues to serve, highest priority first (the pool's band queues).
    queue_names: tuple[str, ...] = ()
    once: bool = False  # Container Apps Jobs: one message per execution
    max_messages: int = 0  # 0: until stopped
    #: How long an idle pass over the queues waits in all; bounds how fast an idle stop is.
    receive_wait_s: float = 2.0
    #: Each queue's share of an idle pass, in the order of the queues (empty: equal shares).
    idle_shares: tuple[float, ...] = ()
    probe_wait_s: float = PROBE_WAIT_S  # the wait on each queue right after a chunk
    max_receive_failures: int = 3  # failed receives in a row (each after the SDK's retries)
    #: A chunk a spent budget holds comes back this much later to look again (containerapp_worker
    #: /held_messages.py).
    hold_recheck_s: float = 45.0

    def idle_waits(self) -> tuple[float, ...]:
        """Each queue's wait in an idle pass: ``receive_wait_s`` shared by ``idle_shares``."""
        count = len(self.queues)
        shares = self.idle_shares or (1.0,) * count
        if len(shares) != count or min(shares) <= 0:
            raise ValueError("idle_shares needs one positive share per queue")
        return tuple(self.receive_wait_s * share / sum(shares) for share in shares)

    @property
    def queues(self) -> tuple[str, ...]:
        """Highest priority first."""
        queues = self.queue_names or ((self.queue_name,) if self.queue_name else ())
        if not queues:
            raise ValueError("a worker needs a queue: queue_name or queue_names")
        return queues


@dataclass(frozen=True, kw_only=True)
class RunEnd:
    """How the loop ended: after ``handled`` messages, and why this replica is in doubt, if so."""

    handled: int
    in_doubt: str = ""

    @property
    def exit_code(self) -> int:
        return EXIT_IN_DOUBT if self.in_doubt else 0


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
        self._handled = 0
        self._receive_failures = 0
        #: The sequence number of the message that last failed unexpectedly, if the last did.
        self._unexpected_in: int | None = None
        self._doubt = ""
        self._held = HeldMessages(client=client, recheck_s=options.hold_recheck_s)
        self._idle_waits = options.idle_waits()
        self.idle = threading.Event()
        self.idle.set()

    def run(self) -> RunEnd:
        """Handle messages until stopped, told how many, or in doubt."""
        opened = False
        queues = self._options.queues
        try:
            with ExitStack() as receivers:
                ordered = [
                    receivers.enter_context(
                        self._client.get_queue_receiver(queue, prefetch_count=0)
                    )
                    for queue in queues
                ]
                opened = True
                self._held.queues = dict(zip(map(id, ordered), queues, strict=True))
                log.info("worker ready on %s", ", ".join(queues), extra={"status": "ready"})
                self._serve(ordered)
        except ServiceBusError as error:  # opening or closing the receiver: no message is held
            log.warning("Service Bus failed", exc_info=True)
            if not opened:
                self._in_doubt(f"cannot open a receiver: {error}")
        if self._doubt:
            log.error(
                "state in doubt, exiting to be replaced: %s",
                self._doubt,
                extra={"status": "in-doubt"},
            )
        return RunEnd(handled=self._handled, in_doubt=self._doubt)

    def _serve(self, receivers: list[ServiceBusReceiver]) -> None:
        idle = True  # a fresh replica waits as an idle one
        while not self._stop.is_set() and not self._doubt:
            waited = time.perf_counter()
            received = self._receive_highest(receivers, idle=idle)
            idle_seconds.record(time.perf_counter() - waited)
            if received is None:  # receiving failed: try again, or stop in doubt
                continue
            receiver, messages = received
            idle = not messages
            if not messages:
                if self._options.once:
                    break
                continue
            self._handle(receiver, messages[0])
            self._handled += 1
            if self._options.once or self._handled == self._options.max_messages:
                break

    def _receive_highest(
        self, receivers: list[ServiceBusReceiver], *, idle: bool
    ) -> tuple[ServiceBusReceiver, list[ServiceBusReceivedMessage]] | None:
        """The first message of the highest queue that gives one, with its receiver: after a
        chunk, a short wait on each queue a peek found something in (the lowest is asked
        without a peek: nothing is below it), its share of the idle wait on each once idle
        (one message at most; each empty receive takes its credit back:
        renderfarm_azure/link_credit.py). None when receiving failed."""
        options = self._options
        waits = self._idle_waits if idle else (options.probe_wait_s,) * len(receivers)
        for receiver, wait in zip(receivers, waits, strict=True):
            if not idle and receiver is not receivers[-1] and _holds_nothing(receiver):
                continue
            messages = self._receive(receiver, wait)
            if messages is None:
                return None
            if messages:
                return receiver, messages
        return receivers[-1], []

    def _receive(
        self, receiver: ServiceBusReceiver, wait_s: float
    ) -> list[ServiceBusReceivedMessage] | None:
        """The next message, if one came in time; None when receiving failed."""
        try:
            messages = receiver.receive_messages(max_message_count=1, max_wait_time=wait_s)
        except ServiceBusError as error:  # the SDK retried already; it reconnects on the next call
            self._receive_failures += 1
            failures = self._receive_failures
            log.warning("receiving failed (%d in a row)", failures, exc_info=True)
            if failures >= self._options.max_receive_failures:
                self._in_doubt(f"receiving failed {failures} times in a row: {error}")
            else:
                self._stop.wait(self._options.receive_wait_s)  # not a busy loop on a refusal
            return None
        self._receive_failures = 0
        if not messages:
            # Else this idle band's link would hold a message for us while we render another's.
            revoke_unused_credit(receiver)
        return messages

    def _handle(self, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage) -> None:
        self.idle.clear()
        self._current = (receiver, message)
        try:
            with _continuing_trace(message):  # the chunk's work and its settling both
                if self._stop.is_set():  # arrived as we were told to stop: hand it straight back
                    outcome = Outcome(verdict=Verdict.ABANDON, reason="Stopping")
                else:
                    outcome = self._outcome(receiver, message)
                self._settle(receiver, message, outcome)
            self._judge(message, outcome)
        finally:
            self._current = None
            self.idle.set()

    def _outcome(self, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage) -> Outcome:
        """What to do with the message. ChunkRenderer turns the chunk's failures into outcomes;
        whatever still escapes (the loop's own code, the SDK, telemetry) abandons it now."""
        try:
            with tracer.start_as_current_span("process-chunk-message"):
                return self._process(receiver, message)
        except Exception as error:
            log.exception("unexpected error handling message %s", message.message_id)
            wrapped = UnexpectedError.wrapping(error)
            doubt = isinstance(wrapped, StateInDoubt)
            return Outcome(
                verdict=Verdict.ABANDON,
                reason=wrapped.reason,
                description=wrapped.description,
                health=Health.IN_DOUBT if doubt else Health.UNEXPECTED,
            )

    def _judge(self, message: ServiceBusReceivedMessage, outcome: Outcome) -> None:
        """Whether this replica may serve another message (the rule in the module docstring)."""
        if outcome.health is Health.IN_DOUBT:
            self._in_doubt(f"{outcome.reason}: {outcome.description}")
        elif outcome.health is Health.UNEXPECTED:
            previous, self._unexpected_in = self._unexpected_in, message.sequence_number
            if previous is not None and previous != message.sequence_number:
                self._in_doubt(f"unexpected errors on two messages in a row: {outcome.description}")
        else:
            self._unexpected_in = None

    def _in_doubt(self, why: str) -> None:
        self._doubt = self._doubt or why

    def _process(self, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage) -> Outcome:
        try:
            chunk = ChunkMessage.from_json(b"".join(message.body))
        except MessageFormatError as error:
            return Outcome(verdict=Verdict.DEAD_LETTER, reason="BadMessage", description=str(error))
        renewer = _lock_renewer(receiver, message)
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
                elif outcome.verdict is Verdict.HOLD:
                    self._held.defer(receiver, message)
                elif outcome.verdict is Verdict.DEAD_LETTER:
                    receiver.dead_letter_message(
                        message, reason=outcome.reason, error_description=outcome.description[:1000]
                    )
                else:
                    receiver.abandon_message(message)
            except (ServiceBusError, ValueError):
                # The lock is gone, or a connection error shut the receiver's link (the SDK then
                # refuses with ValueError): the message comes back when its lock expires, and
                # frames in Blob are skipped. The next receive reconnects.
                log.warning("could not settle %s", message.message_id, exc_info=True)
            except Exception as error:
                log.exception("settling %s failed", message.message_id)
                self._in_doubt(f"settling a message failed: {type(error).__name__}: {error}")
                if outcome.verdict is not Verdict.ABANDON:
                    _abandon_if_possible(receiver, message)
            chunks_settled.add(1, {"verdict": outcome.verdict.value})
            log.info(
                "chunk %s: %s %s",
                message.message_id,
                outcome.verdict.value,
                outcome.reason,
                extra={"status": outcome.verdict.value, "job_id": _job_id(message)},
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


@contextmanager
def _continuing_trace(message: ServiceBusReceivedMessage) -> Iterator[None]:
    """Continue the trace the message carries from the API. Telemetry must never keep a message
    from being settled: properties that cannot be read start a new trace instead."""
    try:
        context = trace_context(message.application_properties)
    except (UnicodeDecodeError, ValueError):
        context = Context()
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


def _job_id(message: ServiceBusReceivedMessage) -> str | None:
    """The job the API named in the message's properties, for the settle log line."""
    value = (message.application_properties or {}).get(b"job_id")
    return value.decode(errors="replace") if isinstance(value, bytes) else None


def _lock_renewer(receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage) -> LockRenewer:
    """Renews every third of the lock the message came with (the queue's LockDuration); each
    renewal may take until the next one is due."""
    locked_until = message.locked_until_utc or datetime.now(UTC) + timedelta(seconds=UNKNOWN_LOCK_S)
    left = (locked_until - datetime.now(UTC)).total_seconds()
    every_s = max(MIN_RENEW_EVERY_S, left * RENEW_FRACTION)
    return LockRenewer(
        lambda: receiver.renew_message_lock(message, timeout=every_s),
        every_s=every_s,
        retry_s=min(every_s, RENEW_RETRY_S),
        locked_until=locked_until,
    )


def _holds_nothing(receiver: ServiceBusReceiver) -> bool:
    """Whether a peek at the queue's head saw no message at all (a locked, deferred or scheduled
    one counts as something: the receive then decides). A failed peek says nothing: the receive
    that follows reports the failure."""
    try:
        return not receiver.peek_messages(max_message_count=1, sequence_number=1)
    except ServiceBusError:
        return False


def _abandon_if_possible(receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage) -> None:
    """Hand back a message whose settling failed unexpectedly; if even that fails, its lock's
    expiry returns it."""
    try:
        receiver.abandon_message(message)
    except Exception:  # the replica is in doubt already; the failure is logged
        log.warning("could not abandon %s either", message.message_id, exc_info=True)
