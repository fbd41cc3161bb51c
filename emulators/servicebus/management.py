"""Request/response nodes: ``$cbs`` (claims-based auth) and ``<queue>/$management``.

Each operation takes the request's body map and answers a Reply; errors carry the status code and
error condition Azure uses, which the SDK maps to its exceptions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from proton import UNDESCRIBED, Array, Data, Message

from . import codec, errors
from .broker import Broker, Delivered, EntityNotFound, LockLost, Outcome
from .outgoing import encode_delivered
from .store import MessageState

_UNDESCRIBED = cast(Any, UNDESCRIBED)  # Proton types its sentinel loosely
OPERATION_PREFIX = "com.microsoft:"

_DISPOSITIONS = {
    "completed": Outcome.COMPLETE,
    "abandoned": Outcome.ABANDON,
    "defered": Outcome.DEFER,
    "suspended": Outcome.DEAD_LETTER,
}


class ManagementError(Exception):
    def __init__(self, status: int, condition: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.condition = condition
        self.description = description


@dataclass(kw_only=True)
class Reply:
    status: int = 200
    description: str = "OK"
    condition: str | None = None
    body: dict[str, Any] | None = None
    cbs: bool = False  # the $cbs node names its status properties differently
    woken: set[str] = field(default_factory=set)  # entities with messages newly available

    def message(self, *, correlation_id: Any, to: str) -> Message:
        if self.cbs:
            properties: dict[str, Any] = {
                "status-code": self.status,
                "status-description": self.description,
            }
        else:
            properties = {"statusCode": self.status, "statusDescription": self.description}
            if self.condition:
                properties["errorCondition"] = self.condition
        return Message(
            body=self.body,
            correlation_id=correlation_id,
            address=to,
            properties=properties,
        )


def put_token_reply(request: Any) -> Reply:
    """The emulator accepts any token, as Microsoft's does; the client still needs the answer."""
    operation = (request.properties or {}).get("operation")
    if operation != "put-token":
        return Reply(status=400, description=f"unknown operation {operation!r}", cbs=True)
    return Reply(status=202, description="Accepted", cbs=True)


def _elements(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Array):
        return list(value.elements)
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, bytes) and len(value) == 16:
        return uuid.UUID(bytes=value)
    return uuid.UUID(str(value))


class ManagementNode:
    """The operations the SDK sends to ``<queue>/$management``."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._operations: dict[str, Callable[[str, dict[str, Any]], Reply]] = {
            "renew-lock": self._renew_lock,
            "peek-message": self._peek,
            "receive-by-sequence-number": self._receive_by_sequence_number,
            "update-disposition": self._update_disposition,
            "schedule-message": self._schedule,
            "cancel-scheduled-message": self._cancel_scheduled,
        }

    def handle(self, entity: str, request: Any) -> Reply:
        operation = codec.text_of((request.properties or {}).get("operation")) or ""
        name = operation.removeprefix(OPERATION_PREFIX)
        body = request.body if isinstance(request.body, dict) else {}
        handler = self._operations.get(name)
        if handler is None:
            return Reply(
                status=501,
                condition=errors.NOT_IMPLEMENTED,
                description=f"The operation {operation!r} is not supported by the emulator.",
            )
        try:
            return handler(entity, {str(key): value for key, value in body.items()})
        except ManagementError as error:
            return Reply(
                status=error.status, condition=error.condition, description=error.description
            )
        except (EntityNotFound, LockLost) as error:
            failure = errors.failure_of(error)
            assert failure is not None  # both are broker errors errors.py answers
            return Reply(
                status=failure.status, condition=failure.condition, description=failure.description
            )
        except (KeyError, TypeError, ValueError, codec.MalformedMessage) as error:
            return Reply(
                status=400, condition=errors.INVALID_FIELD, description=f"bad request: {error}"
            )

    def _renew_lock(self, entity: str, body: dict[str, Any]) -> Reply:
        tokens = [_uuid(token) for token in _elements(body["lock-tokens"])]
        expirations = [codec.as_timestamp(self._broker.renew(token)) for token in tokens]
        return Reply(body={"expirations": Array(_UNDESCRIBED, Data.TIMESTAMP, *expirations)})

    def _peek(self, entity: str, body: dict[str, Any]) -> Reply:
        start = int(body.get("from-sequence-number") or 0)
        count = int(body.get("message-count") or 1)
        found = self._broker.peek(entity, start, count)
        if not found:
            return Reply(status=204, description="No messages")
        messages = [
            {"message": _encode(Delivered(meta=meta, content=content, lock_token=None), meta.state)}
            for meta, content in found
        ]
        return Reply(body={"messages": messages})

    def _receive_by_sequence_number(self, entity: str, body: dict[str, Any]) -> Reply:
        seqs = [int(seq) for seq in _elements(body["sequence-numbers"])]
        lock = int(body.get("receiver-settle-mode", 1)) == 1
        delivered = self._broker.receive_deferred(entity, seqs, lock=lock)
        if len(delivered) != len(seqs):
            missing = sorted(set(seqs) - {item.meta.seq for item in delivered})
            raise ManagementError(
                404, errors.MESSAGE_NOT_FOUND, f"Deferred messages {missing} were not found."
            )
        messages: list[dict[str, Any]] = []
        for item in delivered:
            entry: dict[str, Any] = {"message": _encode(item, item.meta.state)}
            if item.lock_token is not None:
                entry["lock-token"] = item.lock_token
            messages.append(entry)
        return Reply(body={"messages": messages})

    def _update_disposition(self, entity: str, body: dict[str, Any]) -> Reply:
        outcome = _DISPOSITIONS.get(codec.text_of(body["disposition-status"]) or "")
        if outcome is None:
            raise ValueError(f"unknown disposition-status {body['disposition-status']!r}")
        reason = codec.text_of(body.get("deadletter-reason"))
        description = codec.text_of(body.get("deadletter-description"))
        woken: set[str] = set()
        for token in (_uuid(item) for item in _elements(body["lock-tokens"])):
            path = self._broker.locked(token).entity
            self._broker.settle(token, outcome, reason=reason, description=description)
            woken.add(path)
        return Reply(woken=woken if outcome is Outcome.ABANDON else set())

    def _schedule(self, entity: str, body: dict[str, Any]) -> Reply:
        incoming = [
            codec.parse_message(bytes(item["message"])) for item in _elements(body["messages"])
        ]
        seqs = self._broker.send(entity, incoming)
        return Reply(body={"sequence-numbers": Array(_UNDESCRIBED, Data.LONG, *seqs)})

    def _cancel_scheduled(self, entity: str, body: dict[str, Any]) -> Reply:
        self._broker.cancel_scheduled(entity, [int(s) for s in _elements(body["sequence-numbers"])])
        return Reply()


def _encode(delivered: Delivered, state: MessageState | None) -> bytes:
    return encode_delivered(delivered, state=state)
