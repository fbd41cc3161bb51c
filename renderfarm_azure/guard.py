"""Calls to a dependency through its circuit breaker, with its errors turned into
DependencyUnavailable (503 + Retry-After at the HTTP edge)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.servicebus.exceptions import ServiceBusError

from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.errors import DependencyUnavailable

T = TypeVar("T")

#: What the client is told to wait when a dependency fails without the breaker being open yet.
RETRY_AFTER_SECONDS = 5
_SERVER_ERROR = 500
_THROTTLED = 429


def _is_outage(error: Exception) -> bool:
    """Errors that say the dependency is down or slow, not that the request was wrong."""
    if isinstance(error, ServiceBusError | OSError):
        return True
    if isinstance(error, HttpResponseError) and error.status_code is not None:
        return error.status_code >= _SERVER_ERROR or error.status_code == _THROTTLED
    return isinstance(error, AzureError) and not isinstance(error, HttpResponseError)


def guarded(breaker: CircuitBreaker, call: Callable[[], T]) -> T:
    """Run ``call``; count outages against ``breaker`` and re-raise them as unavailability."""
    breaker.before_call()
    try:
        result = call()
    except (AzureError, OSError) as error:
        if isinstance(error, ResourceNotFoundError) or not _is_outage(error):
            breaker.succeeded()  # the service answered; the answer was "no"
            raise
        breaker.failed()
        raise DependencyUnavailable(
            breaker.name, RETRY_AFTER_SECONDS, type(error).__name__
        ) from error
    breaker.succeeded()
    return result


#: Failures in a row that open a breaker, and how long it stays open.
BREAKER_THRESHOLD = 5
BREAKER_OPEN_SECONDS = 15.0


def breaker(name: str) -> CircuitBreaker:
    """A breaker for one dependency of one process, with the farm's thresholds."""
    return CircuitBreaker(
        name=name,
        threshold=BREAKER_THRESHOLD,
        open_seconds=BREAKER_OPEN_SECONDS,
        clock=time.monotonic,
    )
