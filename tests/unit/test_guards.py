import pytest

from renderfarm.jobs.idempotency import is_valid_key, job_id_for
from renderfarm.keys.api_keys import KeyConfigError, KeyRing, hash_key, new_key
from renderfarm.keys.rate_limit import RateLimiter
from renderfarm.shared.circuit_breaker import CircuitBreaker, CircuitOpenError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_maps_to_its_tenant_by_hash_only() -> None:
    key = new_key()
    ring = KeyRing.from_setting(f"acme={hash_key(key)}, globex={hash_key('other')}")
    assert ring.tenant_for(key) == "acme"
    assert ring.tenant_for("other") == "globex"
    assert ring.tenant_for(hash_key(key)) is None


@pytest.mark.parametrize("setting", ["acme", "acme=xyz", "Bad Tenant=" + "a" * 64])
def test_malformed_key_settings_are_a_configuration_error(setting: str) -> None:
    with pytest.raises(KeyConfigError):
        KeyRing.from_setting(setting)


def test_rate_limit_allows_the_burst_then_refuses_with_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=3, clock=clock)
    decisions = [limiter.check("k") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[2].headers()["RateLimit-Remaining"] == "0"
    assert decisions[3].headers()["Retry-After"] == "20"
    assert limiter.check("other").allowed
    clock.now += 20
    assert limiter.check("k").allowed


def test_breaker_opens_after_repeated_failures_and_closes_after_a_good_trial() -> None:
    clock = Clock()
    breaker = CircuitBreaker(name="blob", threshold=2, open_seconds=10, clock=clock)
    breaker.failed()
    breaker.before_call()
    breaker.failed()
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call()
    assert caught.value.retry_after == 10
    clock.now += 10
    breaker.before_call()  # the trial call
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # only one trial at a time
    breaker.succeeded()
    breaker.before_call()
    assert not breaker.is_open


def test_a_failed_trial_reopens_the_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker(name="bus", threshold=1, open_seconds=5, clock=clock)
    breaker.failed()
    clock.now += 5
    breaker.before_call()
    breaker.failed()
    with pytest.raises(CircuitOpenError):
        breaker.before_call()


def test_idempotency_keys_fix_the_job_id_per_tenant() -> None:
    assert job_id_for("acme", "k1") == job_id_for("acme", "k1")
    assert job_id_for("acme", "k1") != job_id_for("globex", "k1")
    assert job_id_for("acme", None) != job_id_for("acme", None)
    assert len(job_id_for("acme", "k1")) == 32
    assert is_valid_key("order-42")
    assert not is_valid_key("has space")
    assert not is_valid_key("")
