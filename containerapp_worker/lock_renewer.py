"""Keeps one message's lock alive while its chunk renders.

One message, one renewal at a time: the SDK can reuse a delivery id when management requests run
concurrently on one receiver (servicebus-protocol.md, Known traps), so this thread is the only
caller of ``renew`` while it runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class LockRenewer:
    def __init__(self, renew: Callable[[], object], *, every_s: float) -> None:
        self._renew = renew
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-renewer", daemon=True)
        self.lost = threading.Event()  # set when a renewal failed: the lock may be gone

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
        while not self._stop.wait(self._every_s):
            try:
                self._renew()
            except Exception:  # any failure means the lock may be lost; the chunk decides
                log.warning("lock renewal failed", exc_info=True)
                self.lost.set()
                return
