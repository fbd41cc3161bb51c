"""The farm-wide rate limit's domain logic: fixed windows, decisions, fail-open on outages."""

from __future__ import annotations

import logging

import pytest

from renderfarm.keys.rate_limit import (
    CounterContended,
    CounterStoreUnavailable,
    RateLimiter,
    SharedRateLimiter,
    Window,
    decide,
)


class Clock:
    def __init__(self, now: float = 6_000.0) -> None:
        self.now = now  # a window boundary (100 minutes after the epoch)

    def __call__(self) -> float:
        return self.now


class MemoryStore:
    """The CounterStore port in a dict; ``down`` makes it fail as an outage would."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.calls = 0
        self.down = False
        self.contended = False

    def increment(self, *, key: str, window: Window) -> int:
        self.calls += 1
        if self.down:
            raise CounterStoreUnavailable("connection refused")
        if self.contended:
            raise CounterContended("lost every race")
        count = self.counts[key, window.start] = self.counts.get((key, window.start), 0) + 1
        return count


def shared(store: MemoryStore, clock: Clock, *, limit: int = 3) -> SharedRateLimiter:
    return SharedRateLimiter(
        store=store,
        per_minute=limit,
        clock=clock,
        fallback=RateLimiter(per_minute=limit, clock=clock),
        retry_seconds=5.0,
    )


def test_a_window_is_the_minute_that_holds_now() -> None:
    window = Window.at(6_059.2)
    assert (window.start, window.end) == (6_000, 6_060)
    assert window.seconds_left(6_059.2) == 1
    assert window.seconds_left(6_000.0) == 60
    assert Window.at(6_060.0).start == 6_060


def test_a_decision_allows_up_to_the_limit_then_says_when_the_window_ends() -> None:
    window = Window.at(6_000.0)
    last = decide(count=3, limit=3, window=window, now=6_045.5)
    assert (last.allowed, last.remaining, last.reset_seconds) == (True, 0, 15)
    over = decide(count=4, limit=3, window=window, now=6_045.5)
    assert not over.allowed
    assert over.headers() == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "15",
        "Retry-After": "15",
    }


def test_two_instances_on_one_store_share_one_limit() -> None:
    store, clock = MemoryStore(), Clock()
    first, second = shared(store, clock), shared(store, clock)
    allowed = [limiter.check("k").allowed for limiter in (first, second, first, second)]
    assert allowed == [True, True, True, False]
    assert not first.check("k").allowed
    assert first.check("other").allowed
    clock.now += 60  # the next window
    assert second.check("k").allowed


def test_a_refused_key_does_not_touch_the_store_until_its_window_ends() -> None:
    store, clock = MemoryStore(), Clock()
    limiter = shared(store, clock, limit=1)
    assert limiter.check("k").allowed
    assert not limiter.check("k").allowed
    calls = store.calls
    clock.now += 30
    refused = limiter.check("k")
    assert (refused.allowed, refused.retry_after_seconds) == (False, 30)
    assert store.calls == calls
    clock.now += 30
    assert limiter.check("k").allowed
    assert store.calls == calls + 1


def test_an_outage_falls_back_per_process_logs_once_and_asks_again_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, clock = MemoryStore(), Clock()
    limiter = shared(store, clock, limit=100)
    store.down = True
    with caplog.at_level(logging.WARNING, logger="renderfarm.keys.rate_limit"):
        assert all(limiter.check("k").allowed for _ in range(20))
        assert store.calls == 1  # the first failure; the others did not wait on the store
        clock.now += 5
        assert limiter.check("k").allowed  # the probe, which fails again
        assert store.calls == 2
        store.down = False
        clock.now += 5
        assert limiter.check("k").allowed  # the probe, which answers
        assert limiter.check("k").allowed
    assert store.calls == 4
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert "unavailable" in messages[0]
    assert "back after 10 s; 21 requests" in messages[1]


def test_during_an_outage_each_process_keeps_its_own_limit() -> None:
    store, clock = MemoryStore(), Clock()
    limiter = shared(store, clock, limit=3)
    store.down = True
    assert [limiter.check("k").allowed for _ in range(4)] == [True, True, True, False]


def test_a_lost_race_is_limited_in_process_without_an_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, clock = MemoryStore(), Clock()
    limiter = shared(store, clock)
    store.contended = True
    with caplog.at_level(logging.WARNING, logger="renderfarm.keys.rate_limit"):
        assert limiter.check("k").allowed
    store.contended = False
    assert limiter.check("k").allowed
    assert store.calls == 2  # the next request asked the store at once
    assert not caplog.records
