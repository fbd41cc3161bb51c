"""The job status on the wire, written once: the API answers with these shapes and the client
reads them back into the same classes.

Why here and why stdlib dataclasses: neither side owns the contract, so it lives in the domain
package, which both import; and the client core must run on Blender's bundled Python, so this
module imports the standard library only (no pydantic, nothing else of ``renderfarm/``; the
add-on build copies it next to the client core). The API's pydantic models
(``functions/schemas.py``) use these dataclasses as field types: pydantic validates and
serialises a standard dataclass and builds its JSON schema (attribute docstrings become field
descriptions, ``Literal`` an enum), so the OpenAPI document, the server's answer and the client's
parsing cannot drift apart. ``CHUNK_STATES`` mirrors the domain's ``ChunkState``; a unit test
holds them equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal, get_args

ChunkStateName = Literal["pending", "rendering", "done", "failed", "cancelled"]
CHUNK_STATES: tuple[str, ...] = get_args(ChunkStateName)

#: pydantic reads this from a standard dataclass: docstrings under fields describe them.
_PYDANTIC_CONFIG: dict[str, object] = {"use_attribute_docstrings": True}


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time from the API, or None."""
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True, kw_only=True)
class ChunkProgress:
    """One chunk of a job: ``chunks[]`` in ``GET /api/jobs/{id}``."""

    __pydantic_config__: ClassVar[dict[str, object]] = _PYDANTIC_CONFIG

    index: int
    state: ChunkStateName
    frames_total: int
    frames_done: int
    attempts: int
    last_error: str | None
    blender_version: str | None
    """full version of the Blender that rendered it (bpy.app.version_string)"""
    started_at: datetime | None
    finished_at: datetime | None
    render_device: str | None = None
    """what rendered it last: CPU, or a GPU's backend and name (OPTIX:NVIDIA H200)"""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkProgress:
        state = str(data["state"])
        if state not in CHUNK_STATES:
            raise ValueError(f"unknown chunk state {state!r}")
        return cls(
            index=int(data["index"]),
            state=state,  # type: ignore[arg-type]  # checked against CHUNK_STATES above
            frames_total=int(data["frames_total"]),
            frames_done=int(data["frames_done"]),
            attempts=int(data["attempts"]),
            last_error=data.get("last_error"),
            blender_version=data.get("blender_version"),
            started_at=parse_time(data.get("started_at")),
            finished_at=parse_time(data.get("finished_at")),
            render_device=data.get("render_device"),
        )


@dataclass(frozen=True, kw_only=True)
class ChunkLogPage:
    """One attempt's Blender log, whole or from an offset: ``GET /api/jobs/{id}/chunks/{n}/log``.

    Offsets count bytes (UTF-8) of the attempt's log from its first line; the farm keeps the
    last MiB of it, so ``first_offset`` grows past 0 once a log is longer."""

    __pydantic_config__: ClassVar[dict[str, object]] = _PYDANTIC_CONFIG

    job_id: str
    chunk_index: int
    attempt: int
    """the attempt this log is of: 1 for the first (the chunk's ``attempts`` count)"""
    attempts: tuple[int, ...]
    """every attempt at the chunk that has a log, oldest first"""
    worker_id: str
    """the worker that made the attempt"""
    started_at: datetime
    ended_at: datetime | None
    """when the attempt ended; null while it runs (its log may still grow)"""
    first_offset: int
    """the first byte of the log the farm still keeps"""
    offset: int
    """where ``text`` starts: the offset asked for, or ``first_offset`` if that is later"""
    next_offset: int
    """the log's length so far: ask from here to get only the lines that follow"""
    text: str
    """the log from ``offset`` on: whole lines, the worker's folders cut from every path"""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkLogPage:
        started = parse_time(data.get("started_at"))
        if started is None:
            raise ValueError("a log names when its attempt started")
        return cls(
            job_id=str(data["job_id"]),
            chunk_index=int(data["chunk_index"]),
            attempt=int(data["attempt"]),
            attempts=tuple(int(attempt) for attempt in data["attempts"]),
            worker_id=str(data["worker_id"]),
            started_at=started,
            ended_at=parse_time(data.get("ended_at")),
            first_offset=int(data["first_offset"]),
            offset=int(data["offset"]),
            next_offset=int(data["next_offset"]),
            text=str(data["text"]),
        )


JobStateName = Literal[
    "scheduled",
    "scouting",
    "awaiting_approval",
    "queued",
    "rendering",
    "completed",
    "failed",
    "cancelled",
]
JOB_STATES: tuple[str, ...] = get_args(JobStateName)
RetryOutcomeName = Literal["retried", "already_retrying", "completed", "nothing_failed"]
RETRY_OUTCOMES: tuple[str, ...] = get_args(RetryOutcomeName)


@dataclass(frozen=True, kw_only=True)
class RetryAnswer:
    """What ``POST /api/jobs/{id}/retry`` did, and where the job stands now."""

    __pydantic_config__: ClassVar[dict[str, object]] = _PYDANTIC_CONFIG

    job_id: str
    outcome: RetryOutcomeName
    """retried: a new round renders the job's failed chunks (202); already_retrying: a round was
    under way, nothing changed; completed: the job completed, nothing to retry; nothing_failed:
    the job was cancelled and no chunk failed (ask include_cancelled to render the cancelled
    ones)"""
    retried: bool
    """whether this call started a round (outcome retried)"""
    state: JobStateName
    """the job's state after the call"""
    round: int
    """the job's retry round: 0 before its first retry, 1 after it, ..."""
    chunks: tuple[int, ...]
    """the indexes of the chunks the round renders again (none before a retry)"""
    frames: int
    """the frames of those chunks; those already in Blob are kept and not rendered again"""
    status_url: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RetryAnswer:
        outcome, state = str(data["outcome"]), str(data["state"])
        if outcome not in RETRY_OUTCOMES or state not in JOB_STATES:
            raise ValueError(f"unknown retry outcome {outcome!r} or job state {state!r}")
        return cls(
            job_id=str(data["job_id"]),
            outcome=outcome,  # type: ignore[arg-type]  # checked against RETRY_OUTCOMES above
            retried=bool(data["retried"]),
            state=state,  # type: ignore[arg-type]  # checked against JOB_STATES above
            round=int(data["round"]),
            chunks=tuple(int(index) for index in data["chunks"]),
            frames=int(data["frames"]),
            status_url=str(data["status_url"]),
        )


UsageGroupName = Literal["day", "tag", "name", "key"]
USAGE_GROUPS: tuple[str, ...] = get_args(UsageGroupName)


@dataclass(frozen=True, kw_only=True)
class UsageLine:
    """What a group spent: the worker-seconds, frames and USD of the attempts it ran."""

    __pydantic_config__: ClassVar[dict[str, object]] = _PYDANTIC_CONFIG

    key: str
    """the day (YYYY-MM-DD), the tag, the job's name or the submitting API key's id"""
    worker_s: float
    """worker-seconds: each attempt's, from the message's pick-up to its settle"""
    frames: int
    """frames uploaded"""
    usd: float
    """what it cost at list prices, as the job's ``cost.estimated_usd`` counts it"""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UsageLine:
        return cls(
            key=str(data.get("key", "")),
            worker_s=float(data["worker_s"]),
            frames=int(data["frames"]),
            usd=float(data["usd"]),
        )


@dataclass(frozen=True, kw_only=True)
class UsageAnswer:
    """The tenant's usage over a span of days: ``GET /api/usage``."""

    __pydantic_config__: ClassVar[dict[str, object]] = _PYDANTIC_CONFIG

    first_day: str
    """the span's first day (YYYY-MM-DD, UTC)"""
    last_day: str
    """its last day, included"""
    group_by: UsageGroupName
    groups: tuple[UsageLine, ...]
    """one line per day, tag, name or key with usage, in order of ``key``"""
    total: UsageLine
    """the whole span (key ``total``): a job's tags overlap, so tag lines may add up to more"""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UsageAnswer:
        group_by = str(data["group_by"])
        if group_by not in USAGE_GROUPS:
            raise ValueError(f"unknown usage grouping {group_by!r}")
        return cls(
            first_day=str(data["first_day"]),
            last_day=str(data["last_day"]),
            group_by=group_by,  # type: ignore[arg-type]  # checked against USAGE_GROUPS above
            groups=tuple(UsageLine.from_json(line) for line in data["groups"]),
            total=UsageLine.from_json(data["total"]),
        )
