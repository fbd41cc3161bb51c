"""One chunk attempt's Blender log, kept in Blob while the chunk renders (renderfarm.chunks.logs).

The attempt's worker alone writes its log blob: at its start, then at most every ``LOG_EVERY_S``
and only when Blender said something new, then once more at its end with the end time. A
thousand replicas make at most a thousand writes every ``LOG_EVERY_S`` (200 a second), each of
at most 1 MiB, each to a blob of its own: no blob is written by two workers.

Writes run on a thread of their own, so a slow Blob Storage never holds a frame back, and in
order: a late write never overwrites a newer one. A log is best effort: a failed write is
logged and the next one carries the lines it missed; the chunk renders on.

What goes in is the attempt's own output only (not the worker's JSON log records that other
threads wrote while Blender's output was captured): the renderer's output is drained here from the
attempt's start (the renderer forgot the earlier chunk's) to its end, and never after
``end()`` returns, when the next chunk may start. Each line is redacted whole (the worker's
folders and every absolute path cut: renderfarm.shared.redact) before it is kept.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from azure.core.exceptions import AzureError

from renderfarm.chunks.logs import LineSplitter, LogFacts, LogTail
from renderfarm.jobs.chunk_messages import ChunkMessage
from renderfarm.shared.errors import DependencyUnavailable
from renderfarm.shared.frames import format_frames

log = logging.getLogger(__name__)

#: How often, at most, a rendering chunk's log is written (when it has new lines).
LOG_EVERY_S = 3.0
#: How long the end of an attempt waits for its log's last write before it moves on.
END_WAIT_S = 10.0
#: What the worker's own lines say they come from (Blender's name theirs: blend, render).
NOTE_SOURCE = "renderfarm"
#: A record of the worker's own JSON log (renderfarm.shared.json_logging), written by another
#: thread (an upload, the lock's renewal) while Blender's output was captured: it is in the
#: worker's log already, and the attempt's log says the same in its own words.
_WORKER_RECORD = re.compile(r'^\{"time": "[^"]*", "level": "[A-Z]+", "logger": "')


class LogWriter(Protocol):
    """Where the log goes (renderfarm_azure.chunk_log_store.BlobChunkLogs)."""

    def write_log(self, facts: LogFacts, content: bytes) -> None: ...


class AttemptLog:
    def __init__(
        self,
        *,
        store: LogWriter,
        output: Callable[[], bytes],
        redact: Callable[[str], str],
        every_s: float | None = None,
    ) -> None:
        """``output`` hands out what the renderer wrote since it was last called; the log is
        written at most every ``every_s`` (default LOG_EVERY_S)."""
        self._store = store
        self._output = output
        self._redact = redact
        self._every_s = LOG_EVERY_S if every_s is None else every_s
        self._lines = LineSplitter()
        self._tail = LogTail()
        self._lock = threading.Lock()  # the lines and facts: the writer's and the attempt's
        self._facts: LogFacts | None = None
        self._closed = False  # no more output is drained: the attempt ended
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None
        self._written = -1  # the log's length in bytes (offset included) at the last write

    @property
    def attempt(self) -> int | None:
        """The attempt's number, once it counted (``begin``); None if it never did."""
        with self._lock:
            return self._facts.attempt if self._facts is not None else None

    def begin(self, facts: LogFacts, *, first_note: str | None = None) -> None:
        """The attempt counted (its number is ``facts.attempt``): write the log from now on,
        starting with ``first_note``."""
        with self._lock:
            self._facts = facts
        if first_note is not None:
            self.note(first_note)
        self._thread = threading.Thread(target=self._run, name="attempt-log", daemon=True)
        self._thread.start()

    def begin_chunk(
        self, message: ChunkMessage, *, attempt: int, worker_id: str, blender_version: str
    ) -> None:
        """``begin``, for attempt number ``attempt`` at ``message``'s chunk, saying so first."""
        facts = LogFacts(
            job_id=message.job_id,
            chunk_index=message.chunk_index,
            attempt=attempt,
            worker_id=worker_id,
            started_at=datetime.now(UTC),
        )
        frames = format_frames(message.frames)
        self.begin(
            facts,
            first_note=f"attempt {attempt} at chunk {message.chunk_index} (frames {frames}) on "
            f"worker {worker_id}, Blender {blender_version}",
        )

    def note(self, text: str) -> None:
        """A line of the worker's own (a frame rendered, uploaded; how the attempt ended), in
        order with Blender's: Blender, run as a module, says little of a frame that works."""
        with self._lock:
            if self._facts is None or self._closed:
                return
            self._take_output(final=False)
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            self._tail.add([self._redact(f"{stamp}  {NOTE_SOURCE:<16} | {text}\n")])

    def end(self, at: datetime) -> None:
        """The attempt is over: take its last output now, write it with the end time, and wait
        a while for that write. Without ``begin`` (the attempt never counted) nothing is kept."""
        with self._lock:
            if self._facts is None or self._closed:
                self._closed = True
                return
            self._take_output(final=True)
            self._facts = replace(self._facts, ended_at=at)
            self._closed = True
        self._ended.set()
        if self._thread is not None:
            self._thread.join(END_WAIT_S)
            if self._thread.is_alive():
                log.warning("the log of chunk attempt %s is still being written", self._facts)

    def _run(self) -> None:
        while True:
            ended = self._ended.is_set()  # before the write: the end is set after its facts
            self._write()
            if ended:
                return
            self._ended.wait(self._every_s)

    def _write(self) -> None:
        with self._lock:
            if not self._closed:
                self._take_output(final=False)
            facts = self._facts
            length = self._tail.dropped + self._tail.size
            if facts is None or (length == self._written and facts.ended_at is None):
                return
            facts = replace(facts, offset=self._tail.dropped)
            content = self._tail.content()
        try:
            self._store.write_log(facts, content)
        except (AzureError, OSError, DependencyUnavailable):
            log.warning(
                "could not write the log of chunk %s attempt %d: the next write carries it",
                facts.chunk_index,
                facts.attempt,
                exc_info=True,
                extra={"job_id": facts.job_id, "chunk_index": facts.chunk_index},
            )
            return
        self._written = length

    def _take_output(self, *, final: bool) -> None:
        """Called with the lock held."""
        lines = self._lines.feed(self._output())
        if final:
            lines += self._lines.rest()
        self._tail.add([self._redact(line) for line in lines if not _WORKER_RECORD.match(line)])
