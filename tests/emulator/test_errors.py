"""The emulator's errors come from one place, worded as Service Bus words them."""

from __future__ import annotations

import pytest

from emulators.servicebus import errors
from emulators.servicebus.broker import EntityNotFound, LockLost


def test_a_lost_lock_is_410_message_lock_lost_in_service_bus_words() -> None:
    failure = errors.failure_of(LockLost("token"))
    assert failure == errors.Failure(410, "com.microsoft:message-lock-lost", errors.LOCK_LOST_TEXT)
    assert failure.description.startswith("The lock supplied is invalid.")


def test_an_unknown_entity_is_404_amqp_not_found() -> None:
    assert errors.failure_of(EntityNotFound("nope")) == errors.Failure(
        404, "amqp:not-found", "entity not found"
    )


@pytest.mark.parametrize("error", [ValueError("x"), KeyError("y"), RuntimeError("z")])
def test_other_errors_are_not_the_brokers_to_answer(error: Exception) -> None:
    assert errors.failure_of(error) is None
