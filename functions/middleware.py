"""ASGI middleware: the request body limit (413) and one JSON log line per request."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.problems import PROBLEM_JSON, TYPE_PREFIX, BodyTooLarge
from renderfarm_azure.telemetry import requests_counter

log = logging.getLogger("renderfarm.api.requests")


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes``: by Content-Length up front, else while reading."""

    def __init__(self, app: ASGIApp, *, max_bytes: Callable[[], int]):
        self.app = app
        self._max_bytes = max_bytes

    @property
    def max_bytes(self) -> int:
        return self._max_bytes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, send)
            return
        received = 0
        refused = False
        limit = self.max_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            # The app may turn BodyTooLarge into its own error answer: send the 413 instead.
            nonlocal refused
            if received <= limit:
                await send(message)
            elif not refused:
                refused = True
                await self._refuse(scope, send)

        with contextlib.suppress(BodyTooLarge):  # answered just below
            await self.app(scope, limited_receive, guarded_send)
        if received > limit and not refused:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {
                "type": TYPE_PREFIX + "body-too-large",
                "title": "Request body too large",
                "status": 413,
                "detail": f"at most {self.max_bytes} bytes",
                "instance": scope.get("path", ""),
            }
        ).encode()
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestLogMiddleware:
    """One JSON log line and one counter tick per request, with the tenant when known."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        if scope.get("state") is None:
            scope["state"] = {}  # the Functions host passes None; routes record tenant and job here

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            state: dict[str, Any] = scope.get("state") or {}
            route = scope.get("route")
            path_template = getattr(route, "path", "unmatched")
            requests_counter.add(1, {"route": path_template, "status": status})
            log.info(
                "%s %s %d %.1fms",
                scope.get("method"),
                scope.get("path"),
                status,
                (time.perf_counter() - start) * 1000,
                extra={
                    "tenant": state.get("tenant"),
                    "job_id": state.get("job_id"),
                    "status": status,
                    "path": scope.get("path"),
                },
            )
