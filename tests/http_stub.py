"""A scripted HTTP server on a free loopback port, for testing the stdlib client over the wire.

``answer`` gets each request and returns a ``Reply``, or ``DROP`` to close the connection without
answering (a farm restarting mid-request). ``read_bytes_per_s`` reads request bodies slowly (a
slow link, so an upload takes a while); ``cut(method, path)`` returns how many bytes of a body to
read before closing the connection without an answer (a drop mid-upload), or None for all of it;
such a request is in ``seen`` with what was read, and ``answer`` never hears of it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True, kw_only=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True, kw_only=True)
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return b"" if self.body is None else json.dumps(self.body).encode()


DROP = object()
Answer = Callable[[Seen], "Reply | object"]
Cut = Callable[[str, str], "int | None"]
_PIECE = 64 * 1024


@dataclass(kw_only=True)
class Stub:
    url: str
    seen: list[Seen]


@contextmanager
def http_stub(
    answer: Answer, *, read_bytes_per_s: float | None = None, cut: Cut | None = None
) -> Iterator[Stub]:
    seen: list[Seen] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:
            return None

        def _read(self, length: int) -> bytes:
            if read_bytes_per_s is None:
                return self.rfile.read(length) if length else b""
            pieces: list[bytes] = []
            left = length
            while left > 0:
                piece = self.rfile.read(min(_PIECE, left))
                if not piece:
                    break  # the client went away
                pieces.append(piece)
                left -= len(piece)
                time.sleep(len(piece) / read_bytes_per_s)
            return b"".join(pieces)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            limit = cut(self.command, parts.path) if cut is not None else None
            try:
                body = self._read(length if limit is None else min(limit, length))
            except OSError:
                body = b""
            request = Seen(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            seen.append(request)
            if limit is not None or len(body) < length:
                self.close_connection = True  # dropped mid-request, or the client gave up
                return
            reply = answer(request)
            if not isinstance(reply, Reply):
                self.close_connection = True
                return
            payload = reply.payload()
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Stub(url=f"http://127.0.0.1:{server.server_address[1]}", seen=seen)
    finally:
        server.shutdown()
        server.server_close()
