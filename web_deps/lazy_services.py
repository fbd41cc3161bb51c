"""The process's services, built on first use rather than at import."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pydantic import ValidationError

from renderfarm.shared.errors import DependencyUnavailable
from renderfarm_azure.services import Services
from renderfarm_azure.telemetry import configure_telemetry

log = logging.getLogger(__name__)


class LazyServices:
    """Services built on first use, not at import: an import-time error in a Functions app
    unregisters every function, and a missing setting should be a 503, not a dead app."""

    def __init__(self, factory: Callable[[], Services]):
        self._factory = factory
        self._services: Services | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Services:
        with self._lock:
            if self._services is None:
                try:
                    services = self._factory()
                except ValidationError as error:
                    log.error("settings are invalid: %s", error)
                    raise DependencyUnavailable("configuration", 60, "settings invalid") from None
                configure_telemetry(services.settings)
                services.ensure_containers()
                self._services = services
            return self._services

    def close(self) -> None:
        with self._lock:
            if self._services is not None:
                self._services.close()
                self._services = None
