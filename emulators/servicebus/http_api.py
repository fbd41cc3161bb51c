"""Management over HTTP: health and each queue's runtime counts, as JSON.

Azure exposes queue depth through the administration API over HTTPS only; the local autoscaler and
the tests read it here instead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Counts = Callable[[], dict[str, dict[str, int]]]


def _handler(counts: Counts, namespace: str) -> type[BaseHTTPRequestHandler]:
    class ManagementHandler(BaseHTTPRequestHandler):
        server_version = "servicebus-emulator"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/health":
                self._send(200, {"status": "healthy", "namespace": namespace})
                return
            snapshot = counts()
            if path == "/queues":
                self._send(200, {"queues": snapshot})
                return
            name = path.removeprefix("/queues/")
            match = {key.lower(): value for key, value in snapshot.items()}.get(name.lower())
            if path.startswith("/queues/") and match is not None:
                self._send(200, {"name": name, **match})
                return
            self._send(404, {"title": "Not Found", "status": 404, "detail": f"no {path}"})

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per poll would drown the emulator's own log

    return ManagementHandler


class ManagementHttpServer:
    def __init__(self, *, host: str, port: int, counts: Counts, namespace: str) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(counts, namespace))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
