"""Service Bus queue semantics: locks, settlement, delivery counts, dead-lettering, scheduling,
time-to-live and duplicate detection. Knows nothing of AMQP; the wire layer calls it.

Every method runs on the broker's one event-loop thread; ``counts()`` may be read from another.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from .codec import IncomingMessage, with_application_properties
from .config import DEAD_LETTER_SUFFIX, EmulatorConfig, QueueConfig
from .store import MessageContent, MessageMeta, MessageState, SqliteStore

MAX_MESSAGE_BYTES = 256 * 1024
REASON_MAX_DELIVERY = "MaxDeliveryCountExceeded"
REASON_TTL_EXPIRED = "TTLExpiredException"


class EntityNotFound(LookupError):
    """No queue of that name: Azure answers amqp:not-found."""


class LockLost(LookupError):
    """The lock token is unknown or its lock expired: Azure answers message-lock-lost."""


class SendNotAllowed(PermissionError):
    """Azure refuses sends to a dead-letter queue."""


class Outcome(Enum):
    COMPLETE = "completed"
    ABANDON = "abandoned"
    DEFER = "defered"  # sic: the spelling of Service Bus's update-disposition
    DEAD_LETTER = "suspended"
    RELEASE = "released"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(eq=False, kw_only=True)
class Entity:
    """A queue or its dead-letter queue, and the in-memory index of its messages."""

    path: str
    config: QueueConfig
    is_dead_letter: bool = False
    messages: dict[int, MessageMeta] = field(default_factory=dict)
    available: list[int] = field(default_factory=list)  # heap of sequence numbers
    scheduled: list[tuple[int, int]] = field(default_factory=list)  # heap of (visible, seq)
    expiring: list[tuple[int, int]] = field(default_factory=list)  # heap of (expires, seq)
    #: message-id -> when it was seen, oldest first (the order tick() forgets them in)
    duplicates: dict[str, int] = field(default_factory=dict)

    @property
    def max_delivery_count(self) -> int | None:
        return None if self.is_dead_letter else self.config.max_delivery_count

    def index(self, meta: MessageMeta) -> None:
        """Put a message into the heaps its state calls for (stale entries are skipped on pop)."""
        self.messages[meta.seq] = meta
        if meta.state is MessageState.SCHEDULED:
            heapq.heappush(self.scheduled, (meta.visible_ms, meta.seq))
        elif meta.state is MessageState.ACTIVE and meta.lock_token is None:
            heapq.heappush(self.available, meta.seq)
        if meta.expires_ms is not None:
            heapq.heappush(self.expiring, (meta.expires_ms, meta.seq))


@dataclass(frozen=True, kw_only=True)
class Delivered:
    """A message handed to a receiver: its metadata, content and lock (None when not locked)."""

    meta: MessageMeta
    content: MessageContent
    lock_token: uuid.UUID | None


class Broker:
    """All queues of the namespace over one store."""

    def __init__(
        self, config: EmulatorConfig, store: SqliteStore, clock: Callable[[], int] = now_ms
    ) -> None:
        self._store = store
        self._clock = clock
        self._entities: dict[str, Entity] = {}
        for queue in config.queues:
            self._add_entity(Entity(path=queue.name, config=queue))
            dead_letter = Entity(path=queue.name + DEAD_LETTER_SUFFIX, config=queue)
            dead_letter.is_dead_letter = True
            self._add_entity(dead_letter)
        self._locks: dict[uuid.UUID, MessageMeta] = {}
        self._lock_expiry: list[tuple[int, uuid.UUID]] = []
        #: The earliest deadline (lock, schedule, time-to-live) added since the server last
        #: asked: it may call for a tick sooner than the one it has planned.
        self._due_added: int | None = None
        self._next_seq = store.last_sequence_number() + 1
        self._counts_lock = threading.Lock()
        self._restore()

    # --- entities ---------------------------------------------------------------------------

    def _add_entity(self, entity: Entity) -> None:
        self._entities[entity.path.lower()] = entity

    def entity(self, path: str) -> Entity:
        entity = self._entities.get(path.strip("/").lower())
        if entity is None:
            raise EntityNotFound(path)
        return entity

    def _restore(self) -> None:
        for meta in self._store.load():
            entity = self._entities.get(meta.entity.lower())
            if entity is not None:  # a queue removed from the config keeps its rows, unserved
                entity.index(meta)
        oldest = self._clock() - max(
            (entity.config.duplicate_window_ms for entity in self._entities.values()), default=0
        )
        for path, message_id, seen in sorted(
            self._store.load_duplicates(oldest), key=lambda row: row[2]
        ):
            if path.lower() in self._entities:
                self._entities[path.lower()].duplicates[message_id] = seen

    # --- sending ----------------------------------------------------------------------------

    def send(self, path: str, incoming: Iterable[IncomingMessage]) -> list[int]:
        """Enqueue messages in one transaction; return their sequence numbers (0 for a
        duplicate, which Azure accepts and drops)."""
        entity = self.entity(path)
        if entity.is_dead_letter:
            raise SendNotAllowed(path)
        now = self._clock()
        rows: list[tuple[MessageMeta, MessageContent]] = []
        seen: list[tuple[str, str, int]] = []
        seqs: list[int] = []
        for message in incoming:
            if self._is_duplicate(entity, message, now):
                seqs.append(0)
                continue
            meta = self._new_meta(entity, message, now)
            rows.append((meta, _content(message)))
            seqs.append(meta.seq)
            if entity.config.requires_duplicate_detection and message.message_id is not None:
                entity.duplicates.pop(message.message_id, None)  # seen again: now the newest
                entity.duplicates[message.message_id] = now
                seen.append((entity.path, message.message_id, now))
        with self._store.transaction():
            self._store.insert(rows)
            self._store.remember_duplicates(seen)
        with self._counts_lock:
            for meta, _ in rows:
                entity.index(meta)
        for meta, _ in rows:
            if meta.state is MessageState.SCHEDULED:
                self._due(meta.visible_ms)
            if meta.expires_ms is not None:
                self._due(meta.expires_ms)
        return seqs

    def _due(self, at_ms: int) -> None:
        if self._due_added is None or at_ms < self._due_added:
            self._due_added = at_ms

    def take_due_added(self) -> int | None:
        """The earliest deadline added since the last call (None: none)."""
        due, self._due_added = self._due_added, None
        return due

    def _is_duplicate(self, entity: Entity, message: IncomingMessage, now: int) -> bool:
        if not entity.config.requires_duplicate_detection or message.message_id is None:
            return False
        seen = entity.duplicates.get(message.message_id)
        return seen is not None and now - seen < entity.config.duplicate_window_ms

    def _new_meta(self, entity: Entity, message: IncomingMessage, now: int) -> MessageMeta:
        seq = self._next_seq
        self._next_seq += 1
        scheduled = message.scheduled_enqueue_ms is not None and message.scheduled_enqueue_ms > now
        visible = (
            message.scheduled_enqueue_ms if scheduled and message.scheduled_enqueue_ms else now
        )
        ttl = _effective_ttl(message.ttl_ms, entity.config.default_ttl_ms)
        return MessageMeta(
            seq=seq,
            entity=entity.path,
            state=MessageState.SCHEDULED if scheduled else MessageState.ACTIVE,
            enqueued_ms=visible,
            visible_ms=visible,
            expires_ms=visible + ttl if ttl is not None else None,
            delivery_count=0,
            message_id=message.message_id,
            priority=message.priority,
            ttl_ms=message.ttl_ms,
            size=message.size,
        )

    def cancel_scheduled(self, path: str, seqs: Iterable[int]) -> None:
        entity = self.entity(path)
        doomed = [
            seq
            for seq in seqs
            if (meta := entity.messages.get(seq)) is not None
            and meta.state is MessageState.SCHEDULED
        ]
        with self._store.transaction():
            self._store.delete(doomed)
        with self._counts_lock:
            for seq in doomed:
                del entity.messages[seq]

    # --- receiving --------------------------------------------------------------------------

    def receive(self, path: str, *, lock: bool) -> Delivered | None:
        """Take the next available message: locked (PEEK_LOCK) or deleted (RECEIVE_AND_DELETE)."""
        entity = self.entity(path)
        now = self._clock()
        while entity.available:
            seq = heapq.heappop(entity.available)
            meta = entity.messages.get(seq)
            if meta is None or meta.state is not MessageState.ACTIVE or meta.lock_token:
                continue
            if meta.expires_ms is not None and meta.expires_ms <= now:
                self._expire(entity, meta)
                continue
            return self._hand_out(entity, meta, lock=lock, now=now)
        return None

    def receive_deferred(self, path: str, seqs: Iterable[int], *, lock: bool) -> list[Delivered]:
        entity = self.entity(path)
        now = self._clock()
        found = [entity.messages.get(seq) for seq in seqs]
        return [
            self._hand_out(entity, meta, lock=lock, now=now)
            for meta in found
            if meta is not None and meta.state is MessageState.DEFERRED and not meta.lock_token
        ]

    def _hand_out(self, entity: Entity, meta: MessageMeta, *, lock: bool, now: int) -> Delivered:
        content = self._store.content(meta.seq)
        if not lock:
            self._store.delete([meta.seq])
            with self._counts_lock:
                del entity.messages[meta.seq]
            return Delivered(meta=meta, content=content, lock_token=None)
        token = uuid.uuid4()
        meta.lock_token = token
        meta.locked_until_ms = now + entity.config.lock_duration_ms
        self._locks[token] = meta
        heapq.heappush(self._lock_expiry, (meta.locked_until_ms, token))
        self._due(meta.locked_until_ms)
        return Delivered(meta=meta, content=content, lock_token=token)

    def peek(
        self, path: str, from_seq: int, count: int
    ) -> list[tuple[MessageMeta, MessageContent]]:
        entity = self.entity(path)
        seqs = heapq.nsmallest(count, (seq for seq in entity.messages if seq >= from_seq))
        return [(entity.messages[seq], self._store.content(seq)) for seq in seqs]

    # --- settlement -------------------------------------------------------------------------

    def locked(self, token: uuid.UUID) -> MessageMeta:
        meta = self._locks.get(token)
        if meta is None or meta.locked_until_ms is None or meta.locked_until_ms <= self._clock():
            raise LockLost(str(token))
        return meta

    def renew(self, token: uuid.UUID) -> int:
        meta = self.locked(token)
        meta.locked_until_ms = self._clock() + self.entity(meta.entity).config.lock_duration_ms
        heapq.heappush(self._lock_expiry, (meta.locked_until_ms, token))
        return meta.locked_until_ms

    def settle(
        self,
        token: uuid.UUID,
        outcome: Outcome,
        *,
        reason: str | None = None,
        description: str | None = None,
    ) -> None:
        """Apply a receiver's verdict on a locked message; raises LockLost if the lock is gone."""
        meta = self.locked(token)
        entity = self.entity(meta.entity)
        self._unlock(meta)
        if outcome is Outcome.COMPLETE:
            self._delete(entity, meta)
        elif outcome is Outcome.DEAD_LETTER:
            self._dead_letter(entity, meta, reason or "", description or "")
        elif outcome is Outcome.DEFER:
            meta.state = MessageState.DEFERRED
            self._persist(meta)
        elif outcome is Outcome.ABANDON:
            self._failed_delivery(entity, meta)
        else:  # released: never delivered, so the count stays
            self._make_available(entity, meta)

    def _unlock(self, meta: MessageMeta) -> None:
        if meta.lock_token is not None:
            self._locks.pop(meta.lock_token, None)
        meta.lock_token = None
        meta.locked_until_ms = None

    def _failed_delivery(self, entity: Entity, meta: MessageMeta) -> None:
        """An abandon or an expired lock: count the delivery, dead-letter past the maximum."""
        meta.delivery_count += 1
        limit = entity.max_delivery_count
        if limit is not None and meta.delivery_count >= limit:
            description = f"Message could not be consumed after {limit} delivery attempts."
            self._dead_letter(entity, meta, REASON_MAX_DELIVERY, description)
            return
        self._persist(meta)
        self._make_available(entity, meta)

    def _make_available(self, entity: Entity, meta: MessageMeta) -> None:
        if meta.state is MessageState.ACTIVE:
            heapq.heappush(entity.available, meta.seq)

    def _persist(self, meta: MessageMeta) -> None:
        self._store.update(meta)  # one statement commits on its own

    def _delete(self, entity: Entity, meta: MessageMeta) -> None:
        self._store.delete([meta.seq])  # one statement commits on its own: no BEGIN/COMMIT
        with self._counts_lock:
            entity.messages.pop(meta.seq, None)

    def _dead_letter(
        self, entity: Entity, meta: MessageMeta, reason: str, description: str
    ) -> None:
        if entity.is_dead_letter:  # Azure never moves a message out of a dead-letter queue
            self._make_available(entity, meta)
            return
        target = self.entity(entity.path + DEAD_LETTER_SUFFIX)
        content = self._store.content(meta.seq)
        app_properties = with_application_properties(
            content.app_properties,
            {"DeadLetterReason": reason, "DeadLetterErrorDescription": description},
        )
        meta.entity = target.path
        meta.state = MessageState.ACTIVE
        meta.expires_ms = None
        meta.dead_letter_source = entity.path
        with self._store.transaction():
            self._store.update(meta)
            self._store.set_app_properties(meta.seq, app_properties)
        with self._counts_lock:
            entity.messages.pop(meta.seq, None)
            target.index(meta)

    def _expire(self, entity: Entity, meta: MessageMeta) -> None:
        if entity.config.dead_letter_on_expiration and not entity.is_dead_letter:
            self._dead_letter(
                entity, meta, REASON_TTL_EXPIRED, "The message expired and was dead lettered."
            )
        else:
            self._delete(entity, meta)

    # --- time -------------------------------------------------------------------------------

    def tick(self) -> tuple[set[str], int | None]:
        """Expire locks, activate scheduled messages, expire messages; return the paths of
        entities that have new messages to hand out, and when the next tick has work (None:
        nothing is due; stale heap entries make it early, never late)."""
        woken = self._tick(self._clock())
        return woken, self._next_due()

    def _tick(self, now: int) -> set[str]:
        woken = self._expire_locks(now)
        for entity in self._entities.values():
            if self._activate_scheduled(entity, now):
                woken.add(entity.path)
            self._expire_messages(entity, now)
            self._forget_duplicates(entity, now)
        return woken

    def _next_due(self) -> int | None:
        dues = [self._lock_expiry[0][0]] if self._lock_expiry else []
        for entity in self._entities.values():
            dues.extend(due for due, _ in entity.scheduled[:1] + entity.expiring[:1])
            if entity.duplicates:  # the oldest first
                seen = next(iter(entity.duplicates.values()))
                dues.append(seen + entity.config.duplicate_window_ms)
        return min(dues, default=None)

    def now(self) -> int:
        """The broker's clock, in Unix milliseconds."""
        return self._clock()

    def _expire_locks(self, now: int) -> set[str]:
        woken: set[str] = set()
        while self._lock_expiry and self._lock_expiry[0][0] <= now:
            _, token = heapq.heappop(self._lock_expiry)
            meta = self._locks.get(token)
            if meta is None or meta.locked_until_ms is None or meta.locked_until_ms > now:
                continue  # settled, or renewed (a later heap entry stands for it)
            entity = self.entity(meta.entity)
            self._unlock(meta)
            self._failed_delivery(entity, meta)
            woken.add(meta.entity)
        return woken

    def _activate_scheduled(self, entity: Entity, now: int) -> bool:
        activated = False
        while entity.scheduled and entity.scheduled[0][0] <= now:
            _, seq = heapq.heappop(entity.scheduled)
            meta = entity.messages.get(seq)
            if meta is None or meta.state is not MessageState.SCHEDULED:
                continue
            meta.state = MessageState.ACTIVE
            self._persist(meta)
            heapq.heappush(entity.available, seq)
            activated = True
        return activated

    def _expire_messages(self, entity: Entity, now: int) -> None:
        while entity.expiring and entity.expiring[0][0] <= now:
            _, seq = heapq.heappop(entity.expiring)
            meta = entity.messages.get(seq)
            if meta is None or meta.expires_ms is None or meta.expires_ms > now:
                continue
            if meta.lock_token is not None or meta.state is MessageState.SCHEDULED:
                continue  # Azure expires a locked message when it is next handed out
            self._expire(entity, meta)

    def _forget_duplicates(self, entity: Entity, now: int) -> None:
        window = entity.config.duplicate_window_ms
        stale = list(
            itertools.takewhile(
                lambda key: now - entity.duplicates[key] >= window, entity.duplicates
            )
        )  # the oldest first: the scan stops at the first one still remembered
        if not stale:
            return
        for key in stale:
            del entity.duplicates[key]
        self._store.forget_duplicates(now - window)

    # --- management view --------------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        """Runtime counts per queue, as Azure's runtime properties name them."""
        with self._counts_lock:
            return {
                entity.path: self._entity_counts(entity)
                for entity in self._entities.values()
                if not entity.is_dead_letter
            }

    def _entity_counts(self, entity: Entity) -> dict[str, int]:
        states = [meta.state for meta in list(entity.messages.values())]
        dead_letter = self._entities[(entity.path + DEAD_LETTER_SUFFIX).lower()]
        locked = sum(1 for meta in list(entity.messages.values()) if meta.lock_token)
        return {
            "active_message_count": states.count(MessageState.ACTIVE),
            "locked_message_count": locked,
            "deferred_message_count": states.count(MessageState.DEFERRED),
            "scheduled_message_count": states.count(MessageState.SCHEDULED),
            "dead_letter_message_count": len(dead_letter.messages),
            "total_message_count": len(states) + len(dead_letter.messages),
        }

    def close(self) -> None:
        self._store.close()


def _effective_ttl(message_ttl: int | None, queue_ttl: int | None) -> int | None:
    """Azure caps a message's time-to-live at its queue's default."""
    if message_ttl is None or message_ttl <= 0:
        return queue_ttl
    return message_ttl if queue_ttl is None else min(message_ttl, queue_ttl)


def _content(message: IncomingMessage) -> MessageContent:
    return MessageContent(
        annotations=message.annotations,
        properties=message.properties,
        app_properties=message.application_properties,
        body=message.body,
    )
