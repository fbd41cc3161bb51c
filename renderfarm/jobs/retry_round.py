"""A retry round: which chunks of an ended job render again, kept in the job's manifest.

A job's first render is round 0. Each retry (renderfarm.jobs.retry) starts the next round with
the chunks that failed (and, if asked, those the cancel stopped); the job's other chunks keep how
they ended, taken together as one code (``carried``: done, or cancelled). The round has a ledger
tree of its own over its chunks only (renderfarm.jobs.end, ``r<round>/`` in the blob names), so
its end costs what the work it re-queued costs, whatever the job's size, and its end is recorded
once, in the manifest, as the first round's was. Its messages, records, cancel markers and events
name the round, so a writer of an earlier round (a dead letter handled late, a worker still
stopping after a cancel) can never settle a chunk into the wrong round or end it twice.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from renderfarm.jobs.end import combined
from renderfarm.shared.frames import format_frames, parse_frames


@dataclass(frozen=True, kw_only=True)
class RetryRound:
    #: 1 for the first retry, then 2, ...
    number: int
    #: The indexes of the chunks this round renders again, sorted.
    chunks: tuple[int, ...]
    #: The ledger code (renderfarm.jobs.end: ``d`` or ``c``) of every other chunk of the job
    #: taken together; None when the round renders every chunk again.
    carried: str | None
    include_cancelled: bool
    at: datetime
    #: How the job had ended before this round.
    previous_outcome: str

    def __post_init__(self) -> None:
        if self.number < 1 or not self.chunks:
            raise ValueError("a retry round is numbered from 1 and renders at least one chunk")
        if list(self.chunks) != sorted(set(self.chunks)):
            raise ValueError("a retry round's chunks are sorted and distinct")

    def position(self, chunk_index: int) -> int | None:
        """The chunk's place among the round's (its leaf in the round's ledger tree); None
        when the round does not render it."""
        place = bisect_left(self.chunks, chunk_index)
        found = place < len(self.chunks) and self.chunks[place] == chunk_index
        return place if found else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            # As a frame list (``0-4,9``): a round of thousands of chunks stays a short text.
            "chunks": format_frames(self.chunks),
            "carried": self.carried,
            "include_cancelled": self.include_cancelled,
            "at": self.at.isoformat(),
            "previous_outcome": self.previous_outcome,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetryRound:
        return cls(
            number=int(data["number"]),
            chunks=parse_frames(str(data["chunks"]), max_frames=_MAX_CHUNKS),
            carried=data.get("carried"),
            include_cancelled=bool(data.get("include_cancelled", False)),
            at=datetime.fromisoformat(data["at"]),
            previous_outcome=str(data["previous_outcome"]),
        )


#: A job has at most MAX_FRAMES_PER_JOB frames, so at most as many chunks.
_MAX_CHUNKS = 100_000


def new_round(  # noqa: PLR0913 - keyword-only: the round's fields
    *,
    number: int,
    chunks: Sequence[int],
    carried_codes: Sequence[str],
    include_cancelled: bool,
    at: datetime,
    previous_outcome: str,
) -> RetryRound:
    """The round that renders ``chunks`` again; ``carried_codes``: the ledger codes of the
    job's other chunks."""
    return RetryRound(
        number=number,
        chunks=tuple(sorted(set(chunks))),
        carried=combined(carried_codes) if carried_codes else None,
        include_cancelled=include_cancelled,
        at=at,
        previous_outcome=previous_outcome,
    )
