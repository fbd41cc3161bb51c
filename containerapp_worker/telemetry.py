"""The worker's traces and metrics: it continues the trace each message carries from the API."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.propagate import extract

tracer = trace.get_tracer("renderfarm.worker")
_meter = metrics.get_meter("renderfarm.worker")
frame_render_seconds = _meter.create_histogram(
    "renderfarm.worker.frame_render_seconds", unit="s", description="Blender time per frame"
)
frame_upload_seconds = _meter.create_histogram(
    "renderfarm.worker.frame_upload_seconds", unit="s", description="upload time per frame"
)
idle_seconds = _meter.create_histogram(
    "renderfarm.worker.idle_seconds", unit="s", description="time waiting for the next message"
)
chunks_settled = _meter.create_counter(
    "renderfarm.worker.chunks", description="chunks settled, by verdict"
)
#: Per chunk attempt, by Blender version and verdict; never by job (one series per job would
#: not scale): a job's own seconds are on its chunk records and in its traces.
chunk_worker_seconds = _meter.create_histogram(
    "renderfarm.worker.chunk_worker_seconds",
    unit="s",
    description="worker seconds of one attempt at a chunk, recorded when it settles",
)


def trace_context(application_properties: Mapping[bytes | str, object] | None) -> Context:
    """The W3C trace context the API put in the message's application properties."""
    carrier: dict[str, str] = {}
    for key, value in (application_properties or {}).items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        carrier[name] = value.decode() if isinstance(value, bytes) else str(value)
    return extract(carrier)
