"""JSON log lines: one object per record, with the job and tenant when the code knows them."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

#: ``extra=`` keys copied into the JSON line when a record carries them.
CONTEXT_FIELDS = (
    "job_id",
    "tenant",
    "chunk_index",
    "frame",
    "request_id",
    "trace_id",
    "status",
    "path",
)

#: Libraries whose INFO output would drown the farm's own lines.
NOISY_LOGGERS = ("azure", "uamqp", "opentelemetry", "httpx")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_json_logging(level: int = logging.INFO) -> None:
    """Route the root logger through one JSON handler (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for chatty in NOISY_LOGGERS:  # their INFO lines are per-link and per-HTTP-call
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
