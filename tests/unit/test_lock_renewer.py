"""The lock renewer: a failed renewal is retried while the lock may hold; the lock is given up when
the broker says it is gone or its end comes too close. Timings are scaled down (a 1 s lock)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from azure.servicebus.exceptions import MessageLockLostError, ServiceBusConnectionError

from containerapp_worker.lock_renewer import LockRenewer

LOCK_S = 1.0
EVERY_S = LOCK_S / 3
RETRY_S = 0.05
#: How late a thread may wake on a busy machine.
SLACK_S = 0.5


def lock_end() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=LOCK_S)


def renewals(failures: list[BaseException | None]) -> tuple[Callable[[], datetime], list[float]]:
    """A renew function that raises each given error in turn (None: succeeds), then succeeds."""
    calls: list[float] = []

    def renew() -> datetime:
        calls.append(time.monotonic())
        error = failures.pop(0) if failures else None
        if error is not None:
            raise error
        return lock_end()

    return renew, calls


def renewer(renew: Callable[[], datetime]) -> LockRenewer:
    return LockRenewer(renew, every_s=EVERY_S, retry_s=RETRY_S, locked_until=lock_end())


def test_a_failed_renewal_is_retried_and_the_lock_kept() -> None:
    renew, calls = renewals([ServiceBusConnectionError(message="connection dropped")] * 3)
    with renewer(renew) as keeper:
        time.sleep(2 * LOCK_S)
    assert not keeper.lost.is_set()
    assert len(calls) > 5, "retried at once, then back to every third of the lock"
    assert calls[1] - calls[0] < EVERY_S, "the retry comes sooner than the next renewal"


def test_the_lock_is_lost_when_renewals_fail_until_its_end() -> None:
    renew, calls = renewals([OSError("unreachable")] * 1000)
    started = time.monotonic()
    with renewer(renew) as keeper:
        assert keeper.lost.wait(LOCK_S + SLACK_S)
        lost_after = time.monotonic() - started
    assert lost_after >= LOCK_S - 2 * RETRY_S, "kept while the lock may still hold"
    assert len(calls) > 3


def test_the_lock_is_lost_at_once_when_the_broker_says_so() -> None:
    renew, calls = renewals([MessageLockLostError()])
    with renewer(renew) as keeper:
        assert keeper.lost.wait(LOCK_S)
    assert len(calls) == 1
