"""Per-key rate limiting, reported as RateLimit-* headers: one limit for the whole farm.

Azure Functions runs as many API instances as the load asks for, so a limit counted inside each
process allows N times the limit. ``SharedRateLimiter`` counts in a store every instance shares
(``CounterStore``; Table Storage in Azure, renderfarm_azure.rate_limit_store), in fixed windows
of one minute: a key's requests in the current minute, one counter per (key, window).

A counter per (key, window) is not a hot spot that breaks: once a key is over its limit, each
instance remembers that until the window ends and refuses without touching the store, so the
writes to one counter in one window are at most the limit plus one per instance (and a retry
per lost race). Different keys and different minutes are different counters.

A fixed window lets a key send up to twice its limit across a window boundary (the end of one
minute and the start of the next); a sliding window would cost a second read per request.

When the store fails (down, slow past its timeouts, refusing), the API fails open, bounded:
each process limits on its own (``RateLimiter``, the same limit per process, so at most N times
the limit across N instances) and asks the store again after ``retry_seconds``; one warning when
an outage starts and one line when it ends, never one per request. A request is never refused,
nor failed, because the store is down. The in-process limiter is also the limiter where no
store is configured: one process (the tests, a single uvicorn) needs nothing shared.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger(__name__)

#: The window a shared counter covers.
WINDOW_SECONDS = 60


@dataclass(frozen=True, kw_only=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


class Limiter(Protocol):
    """What the API asks of a rate limiter: charge ``key`` one request, or refuse it."""

    def check(self, key: str) -> RateDecision: ...


@dataclass(kw_only=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``per_minute`` requests per key, refilled continuously; bursts up to ``per_minute``.

    Counted in this process only: the limiter where no shared store is configured, and the
    fallback of ``SharedRateLimiter`` while its store is down."""

    def __init__(self, *, per_minute: int, clock: Callable[[], float], max_keys: int = 100_000):
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> RateDecision:
        """Take one token for ``key`` if there is one."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._max_keys:
                    self._buckets.clear()  # bounded memory; forgetting is in the client's favour
                bucket = self._buckets[key] = _Bucket(tokens=self._capacity, updated=now)
            bucket.tokens = min(self._capacity, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            allowed = bucket.tokens >= 1.0
            if allowed:
                bucket.tokens -= 1.0
            return RateDecision(
                allowed=allowed,
                limit=int(self._capacity),
                remaining=int(bucket.tokens),
                reset_seconds=math.ceil((self._capacity - bucket.tokens) / self._rate),
                retry_after_seconds=max(1, math.ceil((1.0 - bucket.tokens) / self._rate)),
            )


@dataclass(frozen=True, kw_only=True)
class Window:
    """A fixed window: ``start`` in whole seconds since the Unix epoch (UTC), ``seconds`` long."""

    start: int
    seconds: int = WINDOW_SECONDS

    @classmethod
    def at(cls, now: float, seconds: int = WINDOW_SECONDS) -> Window:
        return cls(start=int(now // seconds) * seconds, seconds=seconds)

    @property
    def end(self) -> int:
        return self.start + self.seconds

    def seconds_left(self, now: float) -> int:
        """Whole seconds until the next window, at least 1 (what Retry-After says)."""
        return max(1, math.ceil(self.end - now))


def decide(*, count: int, limit: int, window: Window, now: float) -> RateDecision:
    """The decision for the request that made ``key``'s count in ``window`` reach ``count``."""
    left = window.seconds_left(now)
    return RateDecision(
        allowed=count <= limit,
        limit=limit,
        remaining=max(0, limit - count),
        reset_seconds=left,
        retry_after_seconds=left,
    )


class CounterStoreUnavailable(Exception):
    """The store did not count the request: it is down, slow or refusing (an outage)."""


class CounterContended(Exception):
    """The store answered, but other instances won every try to update the same counter."""


class CounterStore(Protocol):
    """Counters shared by every API instance, one per (key, window)."""

    def increment(self, *, key: str, window: Window) -> int:
        """Add one to ``key``'s counter in ``window`` and return the new count.

        Raises CounterStoreUnavailable or CounterContended when the count was not taken."""
        ...


class SharedRateLimiter:
    """``per_minute`` requests per key per minute, counted in ``store`` for every instance.

    ``clock`` is wall-clock time (every instance must agree on the windows); ``fallback`` limits
    in this process while the store is down, and for a request that lost every race to update
    its counter."""

    def __init__(  # noqa: PLR0913 - keyword-only: the store, the limits and an injected clock
        self,
        *,
        store: CounterStore,
        per_minute: int,
        clock: Callable[[], float],
        fallback: Limiter,
        retry_seconds: float,
        max_keys: int = 100_000,
    ):
        self._store = store
        self._limit = per_minute
        self._clock = clock
        self._fallback = fallback
        self._retry_seconds = retry_seconds
        self._max_keys = max_keys
        self._lock = threading.Lock()
        # key -> the end of the window in which it went over its limit.
        self._refused_until: dict[str, int] = {}
        # The outage: when it started, when to ask the store again, whether a request is asking.
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._probing = False
        self._fallback_decisions = 0

    def check(self, key: str) -> RateDecision:
        now = self._clock()
        window = Window.at(now)
        refused = self._known_refusal(key, window, now)
        if refused is not None:
            return refused
        probe = self._may_ask_store(now)
        if probe is None:
            return self._fall_back(key)
        try:
            count = self._store.increment(key=key, window=window)
        except CounterStoreUnavailable as error:
            self._store_failed(now, error, probe=probe)
            return self._fall_back(key)
        except CounterContended:
            self._store_answered(now, probe=probe)
            return self._fallback.check(key)
        self._store_answered(now, probe=probe)
        decision = decide(count=count, limit=self._limit, window=window, now=now)
        if not decision.allowed:
            self._remember_refusal(key, window)
        return decision

    def _known_refusal(self, key: str, window: Window, now: float) -> RateDecision | None:
        with self._lock:
            until = self._refused_until.get(key)
        if until is None or until <= now:
            return None
        return decide(count=self._limit + 1, limit=self._limit, window=window, now=now)

    def _remember_refusal(self, key: str, window: Window) -> None:
        with self._lock:
            if len(self._refused_until) >= self._max_keys:
                self._refused_until.clear()  # bounded memory; the store still counts
            self._refused_until[key] = window.end

    def _may_ask_store(self, now: float) -> bool | None:
        """Whether this request asks the store: False (a plain call) while it is up; during an
        outage True for one request once ``retry_seconds`` have passed (the probe), else None."""
        with self._lock:
            if self._down_since is None:
                return False
            if self._probing or now < self._retry_at:
                return None
            self._probing = True
            return True

    def _fall_back(self, key: str) -> RateDecision:
        with self._lock:
            self._fallback_decisions += 1
        return self._fallback.check(key)

    def _store_failed(self, now: float, error: CounterStoreUnavailable, *, probe: bool) -> None:
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = now
                self._fallback_decisions = 0
            self._retry_at = max(self._retry_at, now + self._retry_seconds)
            if probe:
                self._probing = False
        if first:
            logger.warning(
                "rate-limit store unavailable (%s): each API process limits on its own, "
                "asking the store again every %g s",
                error,
                self._retry_seconds,
            )

    def _store_answered(self, now: float, *, probe: bool) -> None:
        """Only the probe ends an outage: a call that began before it and answered late says
        nothing about the store now, and would make the log flap."""
        if not probe:
            return
        with self._lock:
            since, self._down_since, self._probing = self._down_since, None, False
            decisions = self._fallback_decisions
        if since is not None:
            logger.warning(
                "rate-limit store back after %.0f s; %d requests were limited per process",
                now - since,
                decisions,
            )
