"""A circuit breaker per dependency: after repeated failures, fail fast for a while."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

from renderfarm.shared.errors import DependencyUnavailable


class CircuitOpenError(DependencyUnavailable):
    """The dependency failed repeatedly; try again after ``retry_after`` seconds."""

    def __init__(self, name: str, retry_after: int):
        super().__init__(name, retry_after, "circuit open after repeated failures")


class CircuitBreaker:
    """Closed until ``threshold`` failures in a row; open for ``open_seconds``; then one trial
    call (half-open) decides whether to close again."""

    def __init__(
        self, *, name: str, threshold: int, open_seconds: float, clock: Callable[[], float]
    ):
        self.name = name
        self._threshold = threshold
        self._open_seconds = open_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._lock = threading.Lock()

    def before_call(self) -> None:
        """Raise CircuitOpenError instead of calling a dependency that is down."""
        with self._lock:
            if self._opened_at is None:
                return
            waited = self._clock() - self._opened_at
            if waited < self._open_seconds or self._trial_running:
                remaining = max(1, math.ceil(self._open_seconds - waited))
                raise CircuitOpenError(self.name, remaining)
            self._trial_running = True

    def succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def failed(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_running = False
            if self._opened_at is not None or self._failures >= self._threshold:
                self._opened_at = self._clock()

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None
