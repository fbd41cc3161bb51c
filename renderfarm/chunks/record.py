"""The chunk record ``jobs/<id>/chunks/<n>.json``: what the worker says about one chunk.

The worker writes it (etag-conditional) when it starts, after each frame, and when it ends. The
same state, attempt count and worker seconds (renderfarm.chunks.usage) also go into the blob's
metadata, so the API reads every chunk's state and cost from one listing instead of one download
per chunk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from renderfarm.chunks.usage import ChunkUsage
from renderfarm.shared.frames import FrameSpecError, format_frames, parse_frames

#: How often, at most, a rendering chunk's worker rewrites its record with the frames uploaded
#: since its last write (and once more at the chunk's end): the pace at which a job's status can
#: change, so a client reading it more often reads the same answer again.
PROGRESS_EVERY_S = 2.0
#: How much of Blender's output a record keeps.
LOG_TAIL_MAX_CHARS = 4_000
LAST_ERROR_MAX_CHARS = 1_000
#: The longest frame list kept in metadata (Blob allows 8 KiB of it in all). A chunk's frames
#: are one run, so its frames done are a few runs: only a chunk of scattered frames goes over,
#: and its frames are then listed instead.
FRAMES_METADATA_MAX_CHARS = 2_000
#: The metadata value of a record with no frames done (Blob metadata values are not empty).
_NO_FRAMES = "none"
#: The states whose frames the metadata names: a done chunk has all its frames, and a failed or
#: cancelled one has its frames listed, so theirs would only lengthen every status listing.
_OPEN_STATES = frozenset({"pending", "rendering"})


class ChunkState(StrEnum):
    PENDING = "pending"
    RENDERING = "rendering"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, kw_only=True)
class ChunkRecord:
    job_id: str
    chunk_index: int
    state: ChunkState
    attempts: int = 0
    frames_done: tuple[int, ...] = ()
    last_error: str | None = None
    log_tail: str = ""
    worker_id: str | None = None
    #: The full version of the Blender that rendered it last (``bpy.app.version_string``).
    blender_version: str | None = None
    #: What rendered it last: ``CPU``, or the GPU's backend and name (``OPTIX:NVIDIA H200``).
    render_device: str | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    frame_seconds: dict[int, float] = field(default_factory=dict)
    #: Worker seconds and bytes over every attempt (the cost model's input).
    usage: ChunkUsage = field(default_factory=ChunkUsage)
    #: The job's retry round that renders it (renderfarm.jobs.retry_round; 0: its first
    #: render): a writer of an earlier round's message leaves the record alone.
    round: int = 0
    #: Why the chunk waits without starting (``budget``: renderfarm.billing), while pending.
    held: str | None = None

    def with_error(self, error: str) -> ChunkRecord:
        return replace(self, last_error=error[-LAST_ERROR_MAX_CHARS:])

    def with_log(self, log: str) -> ChunkRecord:
        return replace(self, log_tail=log[-LOG_TAIL_MAX_CHARS:])

    def to_json(self) -> str:
        return json.dumps(
            {
                "job_id": self.job_id,
                "chunk_index": self.chunk_index,
                "state": self.state.value,
                "attempts": self.attempts,
                "frames_done": list(self.frames_done),
                "last_error": self.last_error,
                "log_tail": self.log_tail,
                "worker_id": self.worker_id,
                "blender_version": self.blender_version,
                "render_device": self.render_device,
                "started_at": _iso(self.started_at),
                "updated_at": _iso(self.updated_at),
                "finished_at": _iso(self.finished_at),
                "frame_seconds": {str(k): v for k, v in self.frame_seconds.items()},
                "usage": self.usage.to_dict(),
                "round": self.round,
                "held": self.held,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, body: str | bytes) -> ChunkRecord:
        data: dict[str, Any] = json.loads(body)
        return cls(
            job_id=str(data["job_id"]),
            chunk_index=int(data["chunk_index"]),
            state=ChunkState(data["state"]),
            attempts=int(data.get("attempts", 0)),
            frames_done=tuple(int(f) for f in data.get("frames_done", ())),
            last_error=data.get("last_error"),
            log_tail=str(data.get("log_tail", "")),
            worker_id=data.get("worker_id"),
            blender_version=data.get("blender_version"),
            render_device=data.get("render_device"),
            started_at=_parse_time(data.get("started_at")),
            updated_at=_parse_time(data.get("updated_at")),
            finished_at=_parse_time(data.get("finished_at")),
            frame_seconds={int(k): float(v) for k, v in data.get("frame_seconds", {}).items()},
            usage=ChunkUsage.from_dict(data.get("usage")),
            round=int(data.get("round", 0)),
            held=data.get("held"),
        )

    def to_metadata(self) -> dict[str, str]:
        """Blob metadata mirrored from the record (ASCII, small: read by listing)."""
        metadata = {"state": self.state.value, "attempts": str(self.attempts)}
        if self.blender_version is not None:
            metadata["blender"] = _ascii(self.blender_version)
        if self.render_device is not None:
            metadata["device"] = _ascii(self.render_device)
        if self.worker_id is not None:
            metadata["worker"] = _ascii(self.worker_id)
        if self.started_at is not None:
            metadata["started_at"] = self.started_at.isoformat()
        if self.finished_at is not None:
            metadata["finished_at"] = self.finished_at.isoformat()
        metadata.update(self.usage.to_metadata())
        if self.held is not None:
            metadata["held"] = _ascii(self.held)
        frames = format_frames(self.frames_done) or _NO_FRAMES
        if self.state in _OPEN_STATES and len(frames) <= FRAMES_METADATA_MAX_CHARS:
            metadata["frames"] = frames
        return metadata


@dataclass(frozen=True, kw_only=True)
class ChunkSummary:
    """What the listing tells about a chunk record without downloading it."""

    state: ChunkState
    attempts: int
    blender_version: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    usage: ChunkUsage = field(default_factory=ChunkUsage)
    render_device: str | None = None
    #: The worker that rendered it last (the dashboard's chunk grid shows it).
    worker_id: str | None = None
    #: The frames its worker has recorded uploading, while the chunk is open (pending or
    #: rendering); None when the metadata does not say, as for every settled chunk.
    frames_done: frozenset[int] | None = None
    #: Why it waits without starting (``budget``), if it does.
    held: str | None = None

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> ChunkSummary | None:
        """None when the metadata is missing or not ours (then the body must be read)."""
        try:
            return cls(
                state=ChunkState(metadata["state"]),
                attempts=int(metadata.get("attempts", "0")),
                blender_version=metadata.get("blender"),
                render_device=metadata.get("device"),
                worker_id=metadata.get("worker"),
                started_at=_parse_time(metadata.get("started_at")),
                finished_at=_parse_time(metadata.get("finished_at")),
                usage=ChunkUsage.from_metadata(metadata),
                frames_done=(
                    _frames_of(metadata.get("frames"))
                    if metadata["state"] in _OPEN_STATES
                    else None
                ),
                held=metadata.get("held"),
            )
        except (KeyError, ValueError):
            return None

    @classmethod
    def of(cls, record: ChunkRecord) -> ChunkSummary:
        return cls(
            state=record.state,
            attempts=record.attempts,
            blender_version=record.blender_version,
            render_device=record.render_device,
            worker_id=record.worker_id,
            started_at=record.started_at,
            finished_at=record.finished_at,
            usage=record.usage,
            frames_done=(frozenset(record.frames_done) if record.state in _OPEN_STATES else None),
            held=record.held,
        )


def _frames_of(text: str | None) -> frozenset[int] | None:
    """The frames a metadata value names; None when absent or unreadable (then they are
    listed, as for a record an older worker wrote)."""
    if text is None:
        return None
    if text == _NO_FRAMES:
        return frozenset()
    try:
        return frozenset(parse_frames(text))
    except FrameSpecError:
        return None


def _ascii(text: str) -> str:
    """Blob metadata values must be ASCII (version strings are, but a build may say otherwise)."""
    return text.encode("ascii", "replace").decode("ascii")[:64]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
