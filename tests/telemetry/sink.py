"""A stand-in for Application Insights ingestion: what azure-monitor-opentelemetry's exporter
POSTs, recorded for assertions.

The exporter sends each batch as one JSON array of envelopes to ``{IngestionEndpoint}/v2.1/track``
(gzip only if a proxy or a custom policy adds it; the sink takes both) and reads back
``{"itemsReceived": n, "itemsAccepted": n, "errors": []}``: a 200 with an empty ``errors`` is
success; anything else goes to its offline storage for a retry. Live metrics ping
``{LiveEndpoint}/QuickPulseService.svc/ping`` every few seconds; the sink says nobody watches
(``x-ms-qps-subscribed: false``), so the exporter never starts posting. Plain http on loopback
is fine as long as the exporter has no AAD credential (a bearer token insists on https).
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TRACK_PATH = "/v2.1/track"
LIVE_PREFIX = "/QuickPulseService.svc/"
#: An instrumentation key of the right shape; ingestion here checks nothing.
IKEY = "00000000-0000-0000-0000-000000000001"

#: The envelope ``name`` of each kind of item (the table it lands in).
REQUEST = "Microsoft.ApplicationInsights.Request"  # requests
DEPENDENCY = "Microsoft.ApplicationInsights.RemoteDependency"  # dependencies (and internal spans)
MESSAGE = "Microsoft.ApplicationInsights.Message"  # traces (log records)
EXCEPTION = "Microsoft.ApplicationInsights.Exception"  # exceptions
METRIC = "Microsoft.ApplicationInsights.Metric"  # customMetrics


#: Where each Application Insights column (requests, dependencies, traces) comes from in an
#: envelope, as paths into it: the only columns infra/queries may name (tests/infra checks that;
#: tests/telemetry/test_job_trace.py checks each is there in what the exporter sends).
COLUMNS: dict[str, tuple[str, ...]] = {
    "timestamp": ("time",),
    "itemType": ("name",),  # the envelope's kind: request, dependency, trace
    "cloud_RoleName": ("tags", "ai.cloud.role"),
    "operation_Id": ("tags", "ai.operation.id"),
    "operation_ParentId": ("tags", "ai.operation.parentId"),
    "id": ("data", "baseData", "id"),
    "name": ("data", "baseData", "name"),
    "message": ("data", "baseData", "message"),
    "duration": ("data", "baseData", "duration"),
    "success": ("data", "baseData", "success"),
    "type": ("data", "baseData", "type"),
    "target": ("data", "baseData", "target"),
    "data": ("data", "baseData", "data"),
    "url": ("data", "baseData", "url"),
    "customDimensions": ("data", "baseData", "properties"),
}
#: The customDimensions keys that name a job: on log lines, render-chunk and submit_job.
JOB_DIMENSIONS = ("job_id", "job.id", "renderfarm.job_id")


@dataclass(frozen=True)
class Envelope:
    """One telemetry item as ingestion receives it."""

    raw: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.raw.get("name", ""))

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.raw.get("tags") or {})

    @property
    def data(self) -> dict[str, Any]:
        """``baseData``: name, id, duration, properties (customDimensions), metrics..."""
        return dict((self.raw.get("data") or {}).get("baseData") or {})

    def field(self, path: tuple[str, ...]) -> object:
        """The value at ``path`` (a COLUMNS entry), or None."""
        value: object = self.raw
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    @property
    def operation_id(self) -> str:
        return self.tags.get("ai.operation.id", "")

    @property
    def parent_id(self) -> str:
        return self.tags.get("ai.operation.parentId", "")

    @property
    def properties(self) -> dict[str, str]:
        return dict(self.data.get("properties") or {})


@dataclass
class Sink:
    url: str
    envelopes: list[Envelope] = field(default_factory=list)
    live_pings: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def connection_string(self) -> str:
        return f"InstrumentationKey={IKEY};IngestionEndpoint={self.url}/;LiveEndpoint={self.url}/"

    def received(self, name: str | None = None) -> list[Envelope]:
        with self._lock:
            return [e for e in self.envelopes if name is None or e.name == name]

    def _add(self, items: list[dict[str, Any]]) -> None:
        with self._lock:
            self.envelopes.extend(Envelope(item) for item in items)

    def _ping(self) -> None:
        with self._lock:
            self.live_pings += 1


def _decode(body: bytes, encoding: str) -> list[dict[str, Any]]:
    if encoding == "gzip" or body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    text = body.decode()
    stripped = text.strip()
    if stripped.startswith("["):
        return list(json.loads(stripped))
    return [json.loads(line) for line in stripped.splitlines() if line.strip()]  # NDJSON


def _handler(sink: Sink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?", 1)[0]
            if path == TRACK_PATH:
                try:
                    items = _decode(body, self.headers.get("Content-Encoding", ""))
                except ValueError as error:
                    self._reply(
                        400,
                        {
                            "itemsReceived": 0,
                            "itemsAccepted": 0,
                            "errors": [{"index": 0, "statusCode": 400, "message": str(error)}],
                        },
                    )
                    return
                sink._add(items)
                self._reply(
                    200, {"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}
                )
            elif path.startswith(LIVE_PREFIX):
                sink._ping()
                self._reply(200, {}, {"x-ms-qps-subscribed": "false"})
            else:
                self._reply(404, {})

        def _reply(
            self, status: int, payload: object, headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per POST would drown the test's output

    return Handler


@contextmanager
def run_sink() -> Iterator[Sink]:
    """The sink on a free loopback port, served from a thread until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Sink(url="")))
    host, port = server.server_address[:2]
    sink = Sink(url=f"http://{host!s}:{port}")
    server.RequestHandlerClass = _handler(sink)
    thread = threading.Thread(target=server.serve_forever, name="appinsights-sink", daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def fast_export_env(sink: Sink, storage_dir: str) -> dict[str, str]:
    """What a child process needs to export to the sink within a second or two, and to flush
    what is left when it exits (the SDK's providers shut down, and flush, from ``atexit``)."""
    return {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": sink.connection_string,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # spans: ms between batches (default 5000)
        "OTEL_BLRP_SCHEDULE_DELAY": "200",  # log records: likewise
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",  # ms (default 60000)
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",  # no POSTs to Microsoft's ikey
        "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
        "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",  # no OneSettings fetches
        "OTEL_TRACES_SAMPLER": "always_on",  # the default samples 5 traces a second
        # Retries of a failed batch land here, not in the user's temp folder.
        "TMPDIR": storage_dir,
    }
