"""A chunk attempt's Blender log: what its worker keeps of it, and what a reader gets back.

Each attempt at a chunk has its own log blob (``<id>/logs/<n>/<attempt>.log``,
renderfarm.shared.blob_layout), written by that attempt's worker alone: while the chunk renders,
at most every few seconds and only when Blender said something new, and once more when the
attempt ends, with its end time. Each write puts the whole blob: its last ``MAX_LOG_BYTES`` of
output (whole lines), with the attempt's facts in the blob's metadata, so a reader always sees a
log and its facts from one write.

Offsets count bytes of the attempt's whole output, from its first byte: the blob holds the bytes
from ``LogFacts.offset`` (what the cap dropped before) to ``next_offset``. A reader that asks
from an offset gets only what came after it (what a follower polls with).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from renderfarm.shared.errors import DomainError

#: What a log keeps of an attempt's output: its last MiB.
MAX_LOG_BYTES = 1024 * 1024
#: A line this long without its end is kept as a line of its own (one runaway line of output
#: cannot hold back the rest, nor grow the worker's buffer without bound).
MAX_LINE_BYTES = 64 * 1024
_UTF8_CONTINUATION = 0b1100_0000


class ChunkNotFound(DomainError, LookupError):
    """The job has no chunk with that index."""

    status, slug, title = 404, "chunk-not-found", "No such chunk"
    field = ("chunk_index", "path")


class ChunkLogNotFound(DomainError, LookupError):
    """The chunk has no log yet: no worker has started it."""

    status, slug, title = 404, "log-not-found", "No log yet"


class AttemptNotFound(ChunkLogNotFound):
    """The chunk has no log of the attempt asked for."""

    status, slug, title = 404, "attempt-not-found", "No such attempt"
    field = ("attempt", "query")


@dataclass(frozen=True, kw_only=True)
class LogFacts:
    """Who wrote a log and when: what its blob's metadata says, beside its name's job, chunk
    and attempt."""

    job_id: str
    chunk_index: int
    attempt: int
    worker_id: str
    started_at: datetime
    #: None while the attempt runs.
    ended_at: datetime | None = None
    #: Bytes of the attempt's output before the first one the log keeps.
    offset: int = 0

    _KEYS: ClassVar[tuple[str, ...]] = ("worker", "started_at", "offset")

    def to_metadata(self) -> dict[str, str]:
        """Blob metadata: ASCII values only."""
        metadata = {
            "worker": self.worker_id.encode("ascii", "replace").decode("ascii")[:128],
            "started_at": self.started_at.isoformat(),
            "offset": str(self.offset),
        }
        if self.ended_at is not None:
            metadata["ended_at"] = self.ended_at.isoformat()
        return metadata

    @classmethod
    def from_metadata(
        cls, metadata: dict[str, str], *, job_id: str, chunk_index: int, attempt: int
    ) -> LogFacts | None:
        """None when the metadata is not a log's (then the blob is not one)."""
        if not all(key in metadata for key in cls._KEYS):
            return None
        try:
            ended = metadata.get("ended_at")
            return cls(
                job_id=job_id,
                chunk_index=chunk_index,
                attempt=attempt,
                worker_id=metadata["worker"],
                started_at=datetime.fromisoformat(metadata["started_at"]),
                ended_at=datetime.fromisoformat(ended) if ended else None,
                offset=max(0, int(metadata["offset"])),
            )
        except ValueError:
            return None


@dataclass(frozen=True, kw_only=True)
class ChunkLog:
    """One attempt's log as stored: its facts, its bytes (UTF-8, whole lines) and its etag."""

    facts: LogFacts
    content: bytes
    etag: str

    @property
    def next_offset(self) -> int:
        """Bytes of the attempt's output so far: where a follower asks from next."""
        return self.facts.offset + len(self.content)

    def since(self, offset: int) -> tuple[int, str]:
        """The text from ``offset`` on, and the offset it starts at: the log's first kept byte
        when ``offset`` is older, its end when ``offset`` is past it."""
        start = min(max(offset, self.facts.offset), self.next_offset)
        return start, self.content[start - self.facts.offset :].decode("utf-8", "replace")


@dataclass(frozen=True, kw_only=True)
class LogUnchanged:
    """The log is still the version the reader has (its etag matched)."""

    etag: str


class ChunkLogStore(Protocol):
    """Where attempts' logs are kept (renderfarm_azure.chunk_log_store)."""

    def log_attempts(self, job_id: str, chunk_index: int) -> list[int]:
        """The attempts at the chunk that have a log, oldest first (one listing)."""

    def read_log(
        self, job_id: str, chunk_index: int, attempt: int, *, unless_etag: str | None = None
    ) -> ChunkLog | LogUnchanged | None:
        """The attempt's log; LogUnchanged when its etag is ``unless_etag``; None when the
        attempt has none."""

    def write_log(self, facts: LogFacts, content: bytes) -> None:
        """Put the attempt's whole log (only its worker calls this)."""


class LineSplitter:
    """Output as it comes, in pieces, to whole lines: a part line waits for its end, so a path
    cut between two reads is redacted whole (renderfarm.shared.redact)."""

    def __init__(self, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._max = max_line_bytes
        self._part = bytearray()

    def feed(self, data: bytes) -> list[str]:
        """The lines ``data`` completes, each with its newline."""
        self._part.extend(data)
        lines: list[str] = []
        while True:
            end = self._part.find(b"\n")
            if end < 0 and len(self._part) < self._max:
                break
            cut = end + 1 if 0 <= end < self._max else _char_start(self._part, self._max)
            lines.append(_text(bytes(self._part[:cut])))
            del self._part[:cut]
        return lines

    def rest(self) -> list[str]:
        """The part line left at the end of the output, ended as a line."""
        if not self._part:
            return []
        line = _text(bytes(self._part))
        self._part.clear()
        return [line]


class LogTail:
    """The last ``max_bytes`` of an attempt's output as whole lines, and how many bytes of it
    were dropped before them."""

    def __init__(self, *, max_bytes: int = MAX_LOG_BYTES) -> None:
        self._max = max_bytes
        self._lines: deque[bytes] = deque()
        self._size = 0
        self.dropped = 0

    def add(self, lines: list[str]) -> None:
        for line in lines:
            encoded = line.encode("utf-8")
            if not encoded.endswith(b"\n"):
                encoded += b"\n"
            if len(encoded) > self._max:  # one line longer than the whole log: its end
                tail = encoded[_char_start(encoded, len(encoded) - self._max, forward=True) :]
                self.dropped += len(encoded) - len(tail)
                encoded = tail
            self._lines.append(encoded)
            self._size += len(encoded)
        while self._size > self._max:
            oldest = self._lines.popleft()
            self._size -= len(oldest)
            self.dropped += len(oldest)

    @property
    def size(self) -> int:
        return self._size

    def content(self) -> bytes:
        return b"".join(self._lines)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _char_start(data: bytes | bytearray, at: int, *, forward: bool = False) -> int:
    """Where to cut UTF-8 ``data`` at or near ``at`` without cutting a character in two: the
    start of the character ``at`` falls in, or (``forward``) of the next one. Never 0 when
    ``at`` is not (a cut that keeps nothing would not end a line)."""
    start = at
    step = 1 if forward else -1
    while 0 < start < len(data) and data[start] & _UTF8_CONTINUATION == 0b1000_0000:
        start += step
    return start or at
