"""Per-key rate limiting: a token bucket per key, reported as RateLimit-* headers."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass


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


@dataclass(kw_only=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``per_minute`` requests per key, refilled continuously; bursts up to ``per_minute``."""

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
