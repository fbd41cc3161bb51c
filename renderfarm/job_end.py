"""When a job ends, and how: the ledger of settled chunks, and the outcome it implies.

Whoever settles a chunk (a worker, the dead-letter handler) adds it to the job's ledger
``jobs/<id>/settled.json`` with an etag-conditional write, then, if every chunk is settled,
records the job's end in its manifest, again etag-conditionally, so it is recorded once. One
small blob per job and one write per chunk: the cost grows with the work, never with the job's
size squared (no settler lists the job's chunk records).

The ledger holds one character per chunk: ``.`` unsettled, ``d`` done, ``f`` failed, ``c``
cancelled (10,000 chunks are 10 kB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from renderfarm.chunk_record import ChunkState

_CODES = {ChunkState.DONE: "d", ChunkState.FAILED: "f", ChunkState.CANCELLED: "c"}
_STATES = {code: state for state, code in _CODES.items()}
_UNSETTLED = "."


class JobOutcome:
    """The states a job ends in (the values of JobState's terminal members)."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ALL = frozenset({COMPLETED, FAILED, CANCELLED})


@dataclass(frozen=True)
class SettledChunks:
    """Which chunks of a job of ``chunk_count`` chunks have settled, and how."""

    codes: str

    @classmethod
    def empty(cls, chunk_count: int) -> SettledChunks:
        return cls(_UNSETTLED * chunk_count)

    def with_chunk(self, index: int, state: ChunkState) -> SettledChunks:
        """The ledger with chunk ``index`` settled as ``state`` (the latest word wins: a failed
        chunk whose message came back may finish after all)."""
        if state not in _CODES:
            raise ValueError(f"{state} is not a settled state")
        if not 0 <= index < len(self.codes):
            raise ValueError(f"chunk {index} is not in a job of {len(self.codes)} chunks")
        return SettledChunks(self.codes[:index] + _CODES[state] + self.codes[index + 1 :])

    def state_of(self, index: int) -> ChunkState | None:
        return _STATES.get(self.codes[index])

    @property
    def settled(self) -> int:
        return len(self.codes) - self.codes.count(_UNSETTLED)

    def outcome(self, *, cancelled: bool) -> str | None:
        """How the job ended, once every chunk has settled (None before)."""
        if _UNSETTLED in self.codes:
            return None
        if cancelled or "c" in self.codes:
            return JobOutcome.CANCELLED
        if "f" in self.codes:
            return JobOutcome.FAILED
        return JobOutcome.COMPLETED

    def to_json(self) -> str:
        return json.dumps({"version": 1, "chunks": self.codes}, separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str | bytes) -> SettledChunks:
        data: dict[str, Any] = json.loads(body)
        codes = str(data["chunks"])
        if any(code not in _STATES and code != _UNSETTLED for code in codes):
            raise ValueError("not a settled-chunks ledger")
        return cls(codes)
