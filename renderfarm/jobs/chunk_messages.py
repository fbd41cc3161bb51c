"""The chunk message: the body and properties of one Service Bus message, one per chunk.

Body (JSON, UTF-8): ``job_id``, ``chunk_index``, ``frames``, ``scene_sha256``, ``render``,
``tenant``, ``priority``, ``output_extension``, and ``round`` for a chunk a retry sent again
(renderfarm.jobs.retry_round; absent: 0). message-id: ``<job>:<chunk>``, or
``<job>:<chunk>:r<round>`` for a retry's (the queue's duplicate detection uses it: a retry's
message is never taken for a copy of the first one). Application properties: W3C
``traceparent`` / ``tracestate``, plus ``job_id`` and ``tenant`` so a dead-lettered message can
be read without parsing its body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from renderfarm.jobs.render_request import render_settings_from_dict
from renderfarm.shared.errors import UnreadableMessage
from renderfarm.shared.render_settings import RenderSettings, render_settings_to_dict

CONTENT_TYPE = "application/json"
SUBJECT = "render-chunk"
#: Application property names that carry the W3C trace context into the worker.
TRACE_PROPERTIES = ("traceparent", "tracestate")
SCHEMA_VERSION = 1


class MessageFormatError(UnreadableMessage):
    """A message body that is not a chunk message: dead-letter it, retrying will not help."""

    reason = "NotAChunkMessage"


def message_id(job_id: str, chunk_index: int, retry_round: int = 0) -> str:
    first = f"{job_id}:{chunk_index}"
    return f"{first}:r{retry_round}" if retry_round else first


def parse_message_id(text: str) -> tuple[str, int, int]:
    """(job id, chunk index, retry round) of a chunk message's id."""
    rest, _, last = text.rpartition(":")
    retry_round = 0
    if last.startswith("r") and last[1:].isdigit():
        retry_round = int(last[1:])
        rest, _, last = rest.rpartition(":")
    if not rest or not last.isdigit():
        raise MessageFormatError(f"message-id {text!r} is not <job>:<chunk>[:r<round>]")
    return rest, int(last), retry_round


@dataclass(frozen=True, kw_only=True)
class ChunkMessage:
    job_id: str
    chunk_index: int
    frames: tuple[int, ...]
    scene_sha256: str
    render: RenderSettings
    tenant: str
    priority: int
    #: The job's retry round that sent it (0: its first render): a worker holding a message of
    #: an earlier round than the job's leaves the chunk to the later round's message.
    round: int = 0

    @property
    def message_id(self) -> str:
        return message_id(self.job_id, self.chunk_index, self.round)

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "version": SCHEMA_VERSION,
            "job_id": self.job_id,
            "chunk_index": self.chunk_index,
            "frames": list(self.frames),
            "scene_sha256": self.scene_sha256,
            "render": render_settings_to_dict(self.render),
            "tenant": self.tenant,
            "priority": self.priority,
        }
        if self.round:
            body["round"] = self.round
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str | bytes) -> ChunkMessage:
        try:
            data: dict[str, Any] = json.loads(body)
            if data.get("version") != SCHEMA_VERSION:
                raise MessageFormatError(f"unknown message version {data.get('version')!r}")
            return cls(
                job_id=str(data["job_id"]),
                chunk_index=int(data["chunk_index"]),
                frames=tuple(int(f) for f in data["frames"]),
                scene_sha256=str(data["scene_sha256"]),
                render=render_settings_from_dict(data["render"]),
                tenant=str(data["tenant"]),
                priority=int(data["priority"]),
                round=int(data.get("round", 0)),
            )
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, MessageFormatError):
                raise
            raise MessageFormatError(f"not a chunk message: {error}") from error

    def application_properties(self, trace_context: Mapping[str, str]) -> dict[str, str]:
        """Properties for the message: the trace context the worker continues, and who it is for."""
        properties = {key: trace_context[key] for key in TRACE_PROPERTIES if key in trace_context}
        properties["job_id"] = self.job_id
        properties["tenant"] = self.tenant
        return properties
