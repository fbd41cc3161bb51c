"""The AMQP 1.0 wire layer: connections, links, transfers and dispositions on Qpid Proton.

It turns what the azure-servicebus SDK sends into Broker calls and the Broker's answers back into
frames (servicebus-protocol.md in the team's notes lists what the SDK expects). Every Proton event
handler is guarded: an exception in one connection's handling closes that connection and is
logged; it never stops the reactor, which would take every client down.
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from proton import Condition, Delivery, Endpoint, Handler, Link, Message, Terminus, symbol
from proton.reactor import Container, EventInjector

from . import codec, errors
from .broker import MAX_MESSAGE_BYTES, Broker, EntityNotFound, LockLost, Outcome
from .config import DEAD_LETTER_SUFFIX
from .management import ManagementNode, Reply, put_token_reply
from .outgoing import encode_delivered

log = logging.getLogger("emulators.servicebus")

CBS_NODE = "$cbs"
MANAGEMENT_SUFFIX = "/$management"
LINK_CREDIT = 500  # credit granted to a client's sender; replenished as transfers arrive
#: Locks, schedules and time-to-live are checked when the next of them is due, at most this
#: often, and at least every IDLE_TICK_SECONDS (a stop wakes the reactor itself): an
#: idle emulator wakes 4 times a second, not 20, on the cores the farm's Blender renders on.
TICK_SECONDS = 0.05
IDLE_TICK_SECONDS = 0.25


def guarded[F: Callable[..., None]](handler: F) -> F:
    """Contain a failure to the connection it happened on."""

    @functools.wraps(handler)
    def wrapper(self: AmqpServer, event: Any) -> None:
        try:
            handler(self, event)
            self._tick_sooner_if_due()
        except Exception:  # the reactor must outlive any one client's bad frame
            log.exception("error in %s; closing the connection", handler.__name__)
            connection = event.connection
            if connection is not None and not connection.state & Endpoint.LOCAL_CLOSED:
                connection.condition = Condition(errors.INTERNAL, "the emulator hit an error")
                connection.close()

    return wrapper  # type: ignore[return-value]


def entity_path(address: str | None) -> str:
    """``amqps://host:port/queue/$DeadLetterQueue`` -> ``queue/$DeadLetterQueue``."""
    if not address:
        return ""
    if "://" in address:
        address = urlparse(address).path
    return address.strip("/")


class AmqpServer(Handler):
    """Serves one Broker to any number of AMQP connections."""

    def __init__(
        self, broker: Broker, *, host: str, port: int, on_ready: Callable[[int], None]
    ) -> None:
        super().__init__()
        self._broker = broker
        self._host = host
        self._port = port
        self._on_ready = on_ready
        self._management = ManagementNode(broker)
        self._consumers: dict[str, list[Any]] = {}
        self.stopping = False
        self.container: Container | None = None
        self._wake: EventInjector | None = None
        self._tick: Any = None  # the planned tick (a Proton Task), and when it is due:
        self._tick_due_ms = 0

    # --- lifecycle --------------------------------------------------------------------------

    def run(self) -> None:
        self.container = Container(self)
        self.container.container_id = "servicebus-emulator"
        self._wake = EventInjector()
        self.container.selectable(self._wake)
        self.container.run()

    def stop(self) -> None:
        """Stop the reactor now; safe in a signal handler (it only sets flags and writes a byte
        to a pipe the reactor waits on, so that it wakes without waiting for its next tick)."""
        self.stopping = True
        if self.container is not None:
            self.container.stop()
        if self._wake is not None:
            os.write(self._wake.pipe[1], b"!")

    @guarded
    def on_reactor_init(self, event: Any) -> None:
        acceptor = event.container.listen(f"{self._host}:{self._port}")
        port = acceptor._selectable._delegate.getsockname()[1]  # the real port when 0 was asked
        self._plan_tick(event.container, due_ms=None)
        self._on_ready(port)

    def on_timer_task(self, event: Any) -> None:
        if self.stopping:
            event.container.stop()
            return
        due: int | None = None
        try:
            woken, due = self._broker.tick()
            for path in woken:
                self._pump(path)
        except Exception:  # a bad tick must not end the timer, or locks never expire again
            log.exception("error while expiring locks and messages")
        self._broker.take_due_added()  # the tick's own answer covers them
        self._plan_tick(event.container, due_ms=due)

    def _plan_tick(self, container: Any, *, due_ms: int | None) -> None:
        now = self._broker.now()
        wait_s = IDLE_TICK_SECONDS if due_ms is None else (due_ms - now) / 1000
        wait_s = min(IDLE_TICK_SECONDS, max(TICK_SECONDS, wait_s))
        self._tick = container.schedule(wait_s, self)
        self._tick_due_ms = now + round(wait_s * 1000)

    def _tick_sooner_if_due(self) -> None:
        """After each event: a deadline it added before the planned tick moves the tick."""
        due = self._broker.take_due_added()
        if due is None or due >= self._tick_due_ms or self.container is None:
            return
        if self._tick is not None:
            self._tick.cancel()
        self._plan_tick(self.container, due_ms=due)

    # --- connections and sessions -----------------------------------------------------------

    @guarded
    def on_connection_init(self, event: Any) -> None:
        event.connection.rf_reply_links = {}

    @guarded
    def on_connection_bound(self, event: Any) -> None:
        sasl = event.transport.sasl()
        sasl.allowed_mechs("ANONYMOUS PLAIN MSSBCBS")
        sasl.allow_insecure_mechs = True

    @guarded
    def on_connection_remote_open(self, event: Any) -> None:
        connection = event.connection
        if connection.state & Endpoint.LOCAL_UNINIT:
            connection.container = "servicebus-emulator"
            connection.open()

    @guarded
    def on_session_remote_open(self, event: Any) -> None:
        if event.session.state & Endpoint.LOCAL_UNINIT:
            event.session.open()

    @guarded
    def on_connection_remote_close(self, event: Any) -> None:
        self._forget_connection(event.connection)
        if not event.connection.state & Endpoint.LOCAL_CLOSED:
            event.connection.close()

    @guarded
    def on_session_remote_close(self, event: Any) -> None:
        if not event.session.state & Endpoint.LOCAL_CLOSED:
            event.session.close()

    @guarded
    def on_transport_closed(self, event: Any) -> None:
        if event.connection is not None:
            self._forget_connection(event.connection)
            event.connection.free()

    def _forget_connection(self, connection: Any) -> None:
        for links in self._consumers.values():
            links[:] = [link for link in links if link.connection != connection]

    # --- links ------------------------------------------------------------------------------

    @guarded
    def on_link_remote_open(self, event: Any) -> None:
        link = event.link
        if not link.state & Endpoint.LOCAL_UNINIT:
            return
        address = link.remote_target.address if link.is_receiver else link.remote_source.address
        path = entity_path(address)
        link.source.copy(link.remote_source)
        link.target.copy(link.remote_target)
        link.snd_settle_mode = link.remote_snd_settle_mode
        link.rcv_settle_mode = link.remote_rcv_settle_mode
        link.rf_path = path
        if path.lower() == CBS_NODE or path.lower().endswith(MANAGEMENT_SUFFIX):
            self._open_node_link(link, path)
        else:
            self._open_entity_link(link, path)

    def _open_node_link(self, link: Any, path: str) -> None:
        if path.lower().endswith(MANAGEMENT_SUFFIX):
            entity = path[: -len(MANAGEMENT_SUFFIX)]
            if not self._exists(entity):
                self._refuse(link, errors.NOT_FOUND, _not_found_text(entity))
                return
        link.open()
        if link.is_receiver:
            link.flow(LINK_CREDIT)
        else:
            link.connection.rf_reply_links[path.lower()] = link

    def _open_entity_link(self, link: Any, path: str) -> None:
        if not self._exists(path):
            self._refuse(link, errors.NOT_FOUND, _not_found_text(path))
            return
        if link.is_receiver and path.lower().endswith(DEAD_LETTER_SUFFIX):
            self._refuse(link, errors.NOT_ALLOWED, "Sending to a dead-letter queue is not allowed.")
            return
        if link.is_receiver:
            link.max_message_size = MAX_MESSAGE_BYTES
            link.open()
            link.flow(LINK_CREDIT)
            return
        link.max_message_size = 0
        link.rf_lock = link.remote_snd_settle_mode != Link.SND_SETTLED
        link.open()
        self._consumers.setdefault(self._broker.entity(path).path, []).append(link)

    def _exists(self, path: str) -> bool:
        try:
            self._broker.entity(path)
        except EntityNotFound:
            return False
        return True

    @staticmethod
    def _refuse(link: Any, condition: str, description: str) -> None:
        link.source.type = Terminus.UNSPECIFIED
        link.target.type = Terminus.UNSPECIFIED
        link.open()
        link.condition = Condition(condition, description)
        link.close()

    @guarded
    def on_link_remote_close(self, event: Any) -> None:
        link = event.link
        for links in self._consumers.values():
            if link in links:
                links.remove(link)
        if not link.state & Endpoint.LOCAL_CLOSED:
            link.close()

    @guarded
    def on_link_flow(self, event: Any) -> None:
        link = event.link
        if link.is_sender and getattr(link, "rf_lock", None) is not None:
            self._pump(self._broker.entity(link.rf_path).path)

    # --- handing messages out ---------------------------------------------------------------

    def _pump(self, path: str) -> None:
        """Give the entity's messages to its receivers with credit, one each in turn."""
        links = [link for link in self._consumers.get(path, []) if _is_open(link)]
        while links:
            for link in list(links):
                if link.credit <= 0 or not self._send_one(link, path):
                    links.remove(link)

    def _send_one(self, link: Any, path: str) -> bool:
        delivered = self._broker.receive(path, lock=link.rf_lock)
        if delivered is None:
            return False
        token = delivered.lock_token or uuid.uuid4()
        delivery = link.delivery(token.bytes_le)
        delivery.rf_token = delivered.lock_token
        link.send(encode_delivered(delivered))
        link.advance()
        if delivered.lock_token is None:
            delivery.settle()
        return True

    # --- deliveries -------------------------------------------------------------------------

    @guarded
    def on_delivery(self, event: Any) -> None:
        delivery = event.delivery
        if delivery.link.is_receiver:
            self._on_transfer(delivery)
        elif delivery.updated or delivery.remote_settled:
            self._on_disposition(delivery)

    def _on_transfer(self, delivery: Any) -> None:
        if not delivery.readable or delivery.partial:
            return
        link = delivery.link
        data = link.recv(delivery.pending) or b""
        link.advance()
        if link.credit < LINK_CREDIT // 2:
            link.flow(LINK_CREDIT - link.credit)
        path = link.rf_path.lower()
        if path == CBS_NODE:
            self._answer(link, delivery, data, put_token_reply)
        elif path.endswith(MANAGEMENT_SUFFIX):
            entity = link.rf_path[: -len(MANAGEMENT_SUFFIX)]
            self._answer(link, delivery, data, functools.partial(self._management.handle, entity))
        else:
            self._enqueue(link, delivery, data)

    def _enqueue(self, link: Any, delivery: Any, data: bytes) -> None:
        if len(data) > MAX_MESSAGE_BYTES:
            _settle(
                delivery,
                Delivery.REJECTED,
                _error(errors.MESSAGE_SIZE_EXCEEDED, _too_large_text(data)),
            )
            return
        try:
            messages = [codec.parse_message(part) for part in codec.split_batch(data)]
        except codec.MalformedMessage as error:
            _settle(delivery, Delivery.REJECTED, _error(errors.DECODE, str(error)))
            return
        self._broker.send(link.rf_path, messages)  # committed before the client hears "accepted"
        _settle(delivery, Delivery.ACCEPTED)
        self._pump(self._broker.entity(link.rf_path).path)

    def _answer(
        self, link: Any, delivery: Any, data: bytes, handle: Callable[[Any], Reply]
    ) -> None:
        request = Message()
        request.decode(data)
        _settle(delivery, Delivery.ACCEPTED)
        reply = handle(request)
        reply_to = request.reply_to or link.rf_path
        reply_link = link.connection.rf_reply_links.get(entity_path(reply_to).lower())
        if reply_link is None:
            reply_link = link.connection.rf_reply_links.get(link.rf_path.lower())
        if reply_link is None:
            log.warning("no reply link for %s on %s", reply_to, link.rf_path)
            return
        answer = reply.message(correlation_id=request.id, to=reply_to)
        sent = reply_link.send(answer)
        if isinstance(sent, Delivery):
            sent.settle()
        for path in reply.woken:
            self._pump(path)

    def _on_disposition(self, delivery: Any) -> None:
        token = getattr(delivery, "rf_token", None)
        if token is None or delivery.settled:
            return
        state = delivery.remote_state
        outcome, reason, description = _outcome_of(delivery)
        if outcome is None:  # the client settled without an outcome: nothing to do
            delivery.settle()
            return
        try:
            self._broker.settle(token, outcome, reason=reason, description=description)
        except LockLost:
            _settle(delivery, Delivery.REJECTED, _error(errors.LOCK_LOST, errors.LOCK_LOST_TEXT))
            return
        delivery.local.failed = delivery.remote.failed
        delivery.local.undeliverable = delivery.remote.undeliverable
        _settle(delivery, state)
        if outcome in (Outcome.ABANDON, Outcome.RELEASE):
            self._pump(self._broker.entity(delivery.link.rf_path).path)


def _outcome_of(delivery: Any) -> tuple[Outcome | None, str | None, str | None]:
    state = delivery.remote_state
    if state == Delivery.ACCEPTED:
        return Outcome.COMPLETE, None, None
    if state == Delivery.RELEASED:
        return Outcome.RELEASE, None, None
    if state == Delivery.MODIFIED:
        remote = delivery.remote
        if remote.undeliverable:
            return Outcome.DEFER, None, None
        return Outcome.ABANDON, None, None
    if state == Delivery.REJECTED:
        condition = delivery.remote.condition
        info: dict[Any, Any] = dict(condition.info or {}) if condition is not None else {}
        reason = info.get("DeadLetterReason")
        description = info.get("DeadLetterErrorDescription")
        return Outcome.DEAD_LETTER, codec.text_of(reason), codec.text_of(description)
    return None, None, None


def _error(name: str, description: str) -> Condition:
    """An AMQP error as Azure sends it: with an info map, which the SDK indexes unconditionally."""
    return Condition(name, description, {symbol("com.microsoft:tracking-id"): str(uuid.uuid4())})


def _settle(delivery: Any, state: int, condition: Condition | None = None) -> None:
    if condition is not None:
        delivery.local.condition = condition
    delivery.update(state)
    delivery.settle()


def _is_open(link: Any) -> bool:
    return bool(link.state & Endpoint.LOCAL_ACTIVE and link.state & Endpoint.REMOTE_ACTIVE)


def _not_found_text(path: str) -> str:
    return f"The messaging entity '{path}' could not be found."


def _too_large_text(data: bytes) -> str:
    return f"The message of {len(data)} bytes exceeds the limit of {MAX_MESSAGE_BYTES} bytes."
