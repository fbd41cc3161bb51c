"""When a job ends, and how: the ledger of settled chunks, and the outcome it implies.

Whoever settles a chunk (a worker, the dead-letter handler) notes it in the job's ledger, then,
if every chunk is settled, records the job's end in its manifest, etag-conditionally, so it is
recorded once.

The ledger is a tree of marker blobs (``LedgerTree``), so that no blob is written by every
settler. A settler writes the marker of its own chunk, a name no one else writes, then lists
its siblings: at most FANOUT markers under one prefix. If they are all there, it creates their
parent's marker (create-only: of two settlers that both see the last sibling, one creates it,
and neither retries), with the siblings' combined code, and goes up a level. The settler that
creates the root has seen every chunk settled. A 10,000-chunk job is a tree of three levels:

- each settle is one write and one listing of at most 32 names, plus, for one in 32, as much
  again a level up;
- no write ever loses an etag race, however many workers settle at once.

Jobs from before the tree keep the single ledger blob ``jobs/<id>/settled.json`` (one character
per chunk: ``.`` unsettled, ``d`` done, ``f`` failed, ``c`` cancelled), written etag-conditionally
by every settler: a measured wall at 32 settlers (issue 23).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from renderfarm.chunks.record import ChunkState

_CODES = {ChunkState.DONE: "d", ChunkState.FAILED: "f", ChunkState.CANCELLED: "c"}
_STATES = {code: state for state, code in _CODES.items()}
_UNSETTLED = "."
#: Children per node of the ledger tree: a listing of one node's children is one page.
FANOUT = 32
#: The ledger's versions: 1, one blob etag-raced by every settler; 2, the tree.
LEDGER_BLOB = 1
LEDGER_TREE = 2


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
        return outcome_of(combined(self.codes), cancelled=cancelled)

    def to_json(self) -> str:
        return json.dumps({"version": 1, "chunks": self.codes}, separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str | bytes) -> SettledChunks:
        data: dict[str, Any] = json.loads(body)
        codes = str(data["chunks"])
        if any(code not in _STATES and code != _UNSETTLED for code in codes):
            raise ValueError("not a settled-chunks ledger")
        return cls(codes)


def code_of(state: ChunkState) -> str:
    """A settled state's one-letter code."""
    if state not in _CODES:
        raise ValueError(f"{state} is not a settled state")
    return _CODES[state]


def combined(codes: Iterable[str]) -> str:
    """The code of settled chunks taken together: cancelled if any was, else failed if any was,
    else done."""
    seen = set(codes)
    if not seen <= set(_STATES):
        raise ValueError(f"not settled codes: {sorted(seen - set(_STATES))}")
    return next(code for code in ("c", "f", "d") if code in seen or code == "d")


def outcome_of(code: str, *, cancelled: bool) -> str:
    """How a job whose chunks all settled, together as ``code``, ended."""
    if cancelled or code == "c":
        return JobOutcome.CANCELLED
    if code == "f":
        return JobOutcome.FAILED
    return JobOutcome.COMPLETED


@dataclass(frozen=True)
class Node:
    """A marker of the ledger tree: level 0 holds one per chunk, each level above one per
    FANOUT nodes of the level below; the top level holds one, the root. ``round``: the tree's
    retry round (renderfarm.jobs.retry_round): each round of a job has a tree of its own."""

    level: int
    index: int
    round: int = 0


@dataclass(frozen=True)
class LedgerTree:
    """The shape of a job's ledger tree, from its number of chunks (of a retry round: the
    number of chunks the round renders again, each at its place among them)."""

    chunk_count: int
    round: int = 0

    def __post_init__(self) -> None:
        if self.chunk_count < 1:
            raise ValueError("a job has at least one chunk")

    @property
    def root_level(self) -> int:
        """The level of the root: at least 1, so that even a one-chunk job has a root."""
        level, width = 1, -(-self.chunk_count // FANOUT)
        while width > 1:
            level, width = level + 1, -(-width // FANOUT)
        return level

    def width(self, level: int) -> int:
        """How many nodes the level holds."""
        width = self.chunk_count
        for _ in range(level):
            width = -(-width // FANOUT)
        return width

    def leaf(self, chunk_index: int) -> Node:
        if not 0 <= chunk_index < self.chunk_count:
            raise ValueError(f"chunk {chunk_index} is not in a job of {self.chunk_count} chunks")
        return Node(0, chunk_index, self.round)

    def parent(self, node: Node) -> Node:
        if node.level >= self.root_level:
            raise ValueError("the root has no parent")
        return Node(node.level + 1, node.index // FANOUT, self.round)

    def child_count(self, node: Node) -> int:
        """How many children ``node`` has (the last node of a level may have fewer)."""
        below = self.width(node.level - 1)
        return min(FANOUT, below - node.index * FANOUT)

    def is_root(self, node: Node) -> bool:
        return node.level == self.root_level
