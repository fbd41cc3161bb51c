"""The ``quote_expiry`` Function's body: every few minutes, cancel the scouted jobs whose quotes
no one approved within RENDERFARM_QUOTE_EXPIRY_HOURS (renderfarm.jobs.quote_expiry).

In Azure a timer Function (function_app.py); the local farm runs the same logic as a supervised
process, ``python -m functions.quote_expiry_trigger``, every EVERY_S seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

from renderfarm.jobs.quote_expiry import QuoteExpiry
from renderfarm.shared.errors import DependencyUnavailable
from renderfarm.shared.settings import get_settings
from renderfarm_azure import queue_consumer
from renderfarm_azure.services import Services

log = logging.getLogger(__name__)

FUNCTION_NAME = "quote_expiry"
#: Every five minutes (NCRONTAB: second minute hour day month weekday): a quote expires within
#: five minutes of its time.
SCHEDULE = "0 */5 * * * *"
#: The local farm's period.
EVERY_S = 60.0


def quote_expiry(services: Services, clock: Callable[[], datetime]) -> QuoteExpiry:
    """The use case over the process's services, at ``clock``'s time (tests drive it)."""
    jobs = services.jobs
    return QuoteExpiry(
        manifests=jobs.manifests,
        awaiting=jobs.awaiting,
        index=jobs.index,
        events=services.events,
        clock=clock,
    )


@lru_cache(maxsize=1)
def _services() -> Services:
    """One set of clients per process, reused across invocations."""
    return Services.from_settings(get_settings())


def expire_quotes() -> list[str]:
    """The Function's body: the ids of the jobs it cancelled."""
    cancelled = quote_expiry(_services(), lambda: datetime.now(UTC)).expire_due()
    if cancelled:
        log.info("%d jobs cancelled: their quotes expired unapproved", len(cancelled))
    return cancelled


def serve(stop: threading.Event, *, every_s: float = EVERY_S) -> int:
    """The local farm's loop: expire what is due, then wait; an outage waits for the next run."""
    runs = 0
    while not stop.is_set():
        try:
            expire_quotes()
        except DependencyUnavailable:
            log.warning("quote expiry skipped: storage or Service Bus unavailable")
        runs += 1
        stop.wait(every_s)
    return runs


def main() -> int:
    """``python -m functions.quote_expiry_trigger``: the timer Function's logic as a process."""
    _services().ensure_containers()
    return queue_consumer.serve_forever([serve])


if __name__ == "__main__":
    raise SystemExit(main())
