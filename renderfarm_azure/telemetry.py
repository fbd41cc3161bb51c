"""Traces and counters: exported to Azure Monitor when APPLICATIONINSIGHTS_CONNECTION_STRING is
set; otherwise traced in-process only, so the trace context still reaches each message."""

from __future__ import annotations

import threading
from typing import Any

from azure.monitor.opentelemetry import configure_azure_monitor
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider

from renderfarm.shared.settings import Settings
from renderfarm_azure.clients import credential

_configured = threading.Event()
_lock = threading.Lock()


def configure_telemetry(
    settings: Settings, *, logger_name: str = "renderfarm", service_name: str = "renderfarm-api"
) -> None:
    """Once per process; ``logger_name`` is the logger tree whose records go to Azure Monitor,
    ``service_name`` its cloud_RoleName there (what tells the API's items from the worker's)."""
    with _lock:
        if _configured.is_set():
            return
        if settings.applicationinsights_connection_string:
            options: dict[str, Any] = {}
            if settings.storage_account_url:  # running on managed identity: so is ingestion
                # The Bicep turns Application Insights' local (key) auth off.
                options["credential"] = credential(settings)
            configure_azure_monitor(
                connection_string=settings.applicationinsights_connection_string,
                logger_name=logger_name,
                resource=Resource({SERVICE_NAME: service_name}),
                **options,
            )
        elif not isinstance(trace.get_tracer_provider(), TracerProvider):
            trace.set_tracer_provider(TracerProvider())
        _configured.set()


def flush_telemetry(timeout_ms: int = 5000) -> None:
    """Export what is buffered now: for a process about to leave by ``os._exit``, which skips
    the SDK's own flush at exit."""
    for provider in (trace.get_tracer_provider(), _logs.get_logger_provider()):
        force_flush = getattr(provider, "force_flush", None)  # the API's no-op providers lack it
        if force_flush is not None:
            force_flush(timeout_ms)
    meters = getattr(metrics.get_meter_provider(), "force_flush", None)
    if meters is not None:
        meters(timeout_millis=timeout_ms)


tracer = trace.get_tracer("renderfarm.api")
_meter = metrics.get_meter("renderfarm.api")
requests_counter = _meter.create_counter(
    "renderfarm.api.requests", description="HTTP requests by route and status"
)
jobs_counter = _meter.create_counter(
    "renderfarm.jobs.submitted", description="jobs accepted, by tenant"
)
frames_counter = _meter.create_counter(
    "renderfarm.shared.frames.submitted", description="frames asked for, by tenant"
)
