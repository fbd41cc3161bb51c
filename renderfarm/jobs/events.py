"""What the farm says happened to a job: the events on the ``job-events`` queue.

An event's id is deterministic (``<job>:<type>``, or ``<job>:<chunk>:chunk.failed``), and it is
the Service Bus message-id, so the queue's duplicate detection drops the copy a retry or a second
settler sends: each event is delivered once. An event of a retry round (renderfarm.jobs.retry)
names its round after the job (``<job>:r1:job.completed``, ``<job>:r1:<chunk>:chunk.failed``):
a job that fails, is retried and fails again says so twice. The event itself carries only what
names the job; the events consumer reads the job's summary (state, frames, timings, preview,
cost) when it delivers, so a webhook sees the job as it is then.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from renderfarm.shared.errors import UnreadableMessage

SCHEMA_VERSION = 1
CONTENT_TYPE = "application/json"
#: The Service Bus subject of event messages (the chunk messages say ``render-chunk``).
SUBJECT = "job-event"


class EventType(StrEnum):
    JOB_ACCEPTED = "job.accepted"
    JOB_STARTED = "job.started"  # its first frame is in Blob
    JOB_QUOTED = "job.quoted"  # its scout frames are in and priced: it awaits approval
    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"
    JOB_CANCELLED = "job.cancelled"
    CHUNK_FAILED = "chunk.failed"  # dead-lettered: it will not be retried
    JOB_RETRIED = "job.retried"  # an ended job's failed chunks render again
    #: A tenant's (or a tag's) monthly budget crossed a threshold percentage
    #: (renderfarm.billing.thresholds): about the budget, naming the job whose spending did it.
    BUDGET_THRESHOLD = "budget.threshold"


class EventFormatError(UnreadableMessage):
    """A message on the events queue that is not an event: dead-letter it."""

    reason = "BadEvent"


def event_id(
    event_type: EventType, job_id: str, chunk_index: int | None = None, retry_round: int = 0
) -> str:
    job = f"{job_id}:r{retry_round}" if retry_round else job_id
    if chunk_index is None:
        return f"{job}:{event_type.value}"
    return f"{job}:{chunk_index}:{event_type.value}"


def budget_event_id(tenant: str, detail: dict[str, Any]) -> str:
    """One id per budget, month and percentage (``budget:2026-12:80:<digest>``): a budget's
    threshold is announced once a month, whichever job's spending crossed it. The budget's
    tenant and scope are digested, so the id stays within Service Bus's 128 characters."""
    scope = f"{tenant}\n{detail.get('scope')}"
    digest = hashlib.sha256(scope.encode()).hexdigest()[:32]
    return f"budget:{detail.get('month')}:{detail.get('percent')}:{digest}"


@dataclass(frozen=True, kw_only=True)
class JobEvent:
    type: EventType
    job_id: str
    tenant: str
    at: datetime
    chunk_index: int | None = None
    #: What the event adds to the job's summary (a failed chunk's error, say).
    detail: dict[str, Any] = field(default_factory=dict)
    #: The job's retry round it happened in (0: its first render).
    round: int = 0

    @property
    def id(self) -> str:
        if self.type is EventType.BUDGET_THRESHOLD:
            return budget_event_id(self.tenant, self.detail)
        return event_id(self.type, self.job_id, self.chunk_index, self.round)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": SCHEMA_VERSION,
                "id": self.id,
                "type": self.type.value,
                "job_id": self.job_id,
                "tenant": self.tenant,
                "at": self.at.isoformat(),
                "chunk_index": self.chunk_index,
                "detail": self.detail,
                "round": self.round,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, body: str | bytes) -> JobEvent:
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise EventFormatError("not a job event: not a JSON object")
            if data.get("version") != SCHEMA_VERSION:
                raise EventFormatError(f"unknown event version {data.get('version')!r}")
            chunk = data.get("chunk_index")
            return cls(
                type=EventType(data["type"]),
                job_id=str(data["job_id"]),
                tenant=str(data["tenant"]),
                at=datetime.fromisoformat(data["at"]),
                chunk_index=int(chunk) if chunk is not None else None,
                detail=dict(data.get("detail") or {}),
                round=int(data.get("round") or 0),
            )
        except EventFormatError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise EventFormatError(f"not a job event: {error}") from error
