"""The AMQP error conditions the emulator answers, named as Service Bus names them, and the
mapping from the broker's exceptions to them: one place, so the wire layer (amqp_server) and the
management layer say the same thing the same way."""

from __future__ import annotations

from dataclasses import dataclass

from .broker import EntityNotFound, LockLost

NOT_FOUND = "amqp:not-found"
NOT_ALLOWED = "amqp:not-allowed"
INTERNAL = "amqp:internal-error"
MESSAGE_SIZE_EXCEEDED = "amqp:link:message-size-exceeded"
DECODE = "amqp:decode-error"
NOT_IMPLEMENTED = "amqp:not-implemented"
INVALID_FIELD = "amqp:invalid-field"
LOCK_LOST = "com.microsoft:message-lock-lost"
MESSAGE_NOT_FOUND = "com.microsoft:message-not-found"
DEAD_LETTER = "com.microsoft:dead-letter"

#: Service Bus's words for a settlement or renewal with a lock that is gone.
LOCK_LOST_TEXT = (
    "The lock supplied is invalid. Either the lock expired, or the message has already been "
    "removed from the queue."
)


@dataclass(frozen=True)
class Failure:
    """How an error is answered: a management status code, and the AMQP condition."""

    status: int
    condition: str
    description: str


def failure_of(error: Exception) -> Failure | None:
    """The answer to one of the broker's exceptions; None for any other."""
    if isinstance(error, LockLost):
        return Failure(410, LOCK_LOST, LOCK_LOST_TEXT)
    if isinstance(error, EntityNotFound):
        return Failure(404, NOT_FOUND, "entity not found")
    return None
