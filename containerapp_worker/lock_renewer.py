"""Keeps one message's lock alive while its chunk renders.

It renews every ``every_s`` (a third of the lock). A renewal that fails without the broker saying
the lock is gone (a dropped connection, a timeout) is tried again every ``retry_s`` for as long as
the lock may still hold, so an outage shorter than what is left of the lock costs nothing; ``lost``
is set once the broker says the lock is gone or the lock's known end comes too close.

One message, one renewal at a time: the SDK can reuse a delivery id when management requests run
concurrently on one receiver (servicebus-protocol.md, Known traps), so this thread is the only
caller of ``renew`` while it runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from azure.servicebus.exceptions import MessageAlreadySettled, MessageLockLostError

log = logging.getLogger(__name__)


class LockRenewer:
    def __init__(
        self,
        renew: Callable[[], datetime],
        *,
        every_s: float,
        retry_s: float,
        locked_until: datetime,
    ) -> None:
        self._renew = renew  # returns the lock's new end (UTC), as the SDK does
        self._every_s = every_s
        self._retry_s = retry_s
        self._locked_until = locked_until
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-renewer", daemon=True)
        self.lost = threading.Event()  # set when the lock is, or may be, gone

    def __enter__(self) -> LockRenewer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        wait = self._every_s
        while not self._stop.wait(wait):
            try:
                self._locked_until = self._renew()
            except (MessageLockLostError, MessageAlreadySettled):
                log.warning("the message's lock is lost", exc_info=True)
                self.lost.set()
                return
            except Exception as error:  # any other failure may pass before the lock ends
                left = (self._locked_until - datetime.now(UTC)).total_seconds()
                if left <= self._retry_s:
                    log.warning("lock renewal failed, %.1f s of lock left", left, exc_info=True)
                    self.lost.set()
                    return
                log.warning("lock renewal failed, retrying (%.1f s of lock left): %s", left, error)
                wait = self._retry_s
            else:
                wait = self._every_s
