"""What bench_scale counts, across every worker thread: Blob answers, Service Bus calls, frame
uploads, the etag retries inside each settle, and the workers' log lines."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from azure.core.pipeline import PipelineResponse
from azure.servicebus import ServiceBusReceiver, ServiceBusSender

#: Service Bus calls counted, by the SDK's method names.
RECEIVER_OPS = (
    "receive_messages",
    "complete_message",
    "abandon_message",
    "renew_message_lock",
    "dead_letter_message",
)


@dataclass
class Tally:
    """Counters shared by every worker thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    blob_requests: int = 0
    blob_statuses: Counter[int] = field(default_factory=Counter)
    bus_ops: Counter[str] = field(default_factory=Counter)
    uploads: int = 0
    doubled: int = 0
    settle_retries: list[int] = field(default_factory=list)
    settle_retry_blobs: Counter[str] = field(default_factory=Counter)
    settle_conflicts: int = 0  # 409s inside settles: create-only markers someone else made
    last_upload: dict[str, float] = field(default_factory=dict)
    kills: Counter[str] = field(default_factory=Counter)
    status_s: list[float] = field(default_factory=list)
    status_errors: int = 0
    ready: int = 0
    log_warnings: Counter[str] = field(default_factory=Counter)

    def bus(self, op: str) -> None:
        with self.lock:
            self.bus_ops[op] += 1


TALLY = Tally()
in_settle = threading.local()


def on_blob_response(response: PipelineResponse[Any, Any]) -> None:
    """Every HTTP answer the workers' Blob clients get, retries included."""
    status = response.http_response.status_code
    with TALLY.lock:
        TALLY.blob_requests += 1
        TALLY.blob_statuses[status] += 1
    if getattr(in_settle, "counts", None) is not None:
        in_settle.counts[status] += 1
        if status == HTTPStatus.PRECONDITION_FAILED:  # which blob an etag retry was on
            kind = re.sub(r"[0-9a-f]{32}", "<job>", response.http_request.url.split("?")[0])
            with TALLY.lock:
                TALLY.settle_retry_blobs[re.sub(r"^.*?/jobs/", "", kind)] += 1


@contextlib.contextmanager
def counting_servicebus() -> Iterator[None]:
    """Count the SDK's receiver and sender calls, on the classes, for the run."""
    saved: list[tuple[type, str, Any]] = []

    def patch(cls: type, name: str) -> None:
        original = getattr(cls, name)

        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            TALLY.bus(name)
            return original(self, *args, **kwargs)

        saved.append((cls, name, original))
        setattr(cls, name, counted)

    for name in RECEIVER_OPS:
        patch(ServiceBusReceiver, name)
    patch(ServiceBusSender, "send_messages")
    try:
        yield
    finally:
        for cls, name, original in saved:
            setattr(cls, name, original)


class TallyHandler(logging.Handler):
    """The workers' log lines, counted and dropped: 'ready' lines and warnings by message."""

    def emit(self, record: logging.LogRecord) -> None:
        with TALLY.lock:
            if getattr(record, "status", None) == "ready":
                TALLY.ready += 1
            if record.levelno >= logging.WARNING:
                TALLY.log_warnings[f"{record.name}: {record.msg}"] += 1
