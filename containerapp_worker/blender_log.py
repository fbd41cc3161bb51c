"""What Blender writes: its last lines, kept so a failed chunk can report them, and all of it as
it comes, for the chunk attempt's log (containerapp_worker/attempt_log.py).

Blender writes its log (CLOG, driver errors) to fd 2 below Python, and its operator reports
(``Error: ...``) through ``sys.stdout``, which a host (pytest, a logging setup) may have pointed
away from fd 1. During each captured call both descriptors and both Python streams point at one
temporary file (one file keeps the streams in order); on exit the text is passed on to the
original stderr and its lines are kept. Other threads' writes to fd 1/2 during a capture land in
the same file: they are delayed (and counted in the tail), not lost.

``new_output()`` hands out each byte once, from another thread too: while a capture runs (a
frame renders for minutes), what it wrote so far is read from its file without moving the
file's offset (pread), so Blender's progress lines show while the frame renders.
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout

STDOUT_FD = 1
STDERR_FD = 2

_libc = ctypes.CDLL(None)
#: Output kept for ``new_output()`` when no one takes it (a runner used without an attempt log).
MAX_UNREAD_BYTES = 4 * 1024 * 1024


def _flush_all() -> None:
    """Flush Python's and C's buffers so each byte lands on the descriptor current when written."""
    sys.stdout.flush()
    sys.stderr.flush()
    _libc.fflush(None)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class BlenderLog:
    """A ring of Blender's most recent output lines, filled by ``capture()`` blocks."""

    def __init__(self, *, max_lines: int = 50) -> None:
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._lock = threading.Lock()
        #: Output of finished captures that new_output() has not handed out yet.
        self._unread = bytearray()
        #: The file of the capture running now, and how much of it new_output() handed out.
        self._sink: int | None = None
        self._sink_read = 0

    def tail(self) -> tuple[str, ...]:
        """The most recent lines, oldest first."""
        return tuple(self._lines)

    def clear(self) -> None:
        """Forget every line and every byte not handed out yet (a new chunk starts)."""
        self._lines.clear()
        with self._lock:
            self._unread.clear()
            if self._sink is not None:
                self._sink_read = os.fstat(self._sink).st_size

    def new_output(self) -> bytes:
        """What was written since the last call, the capture running now included."""
        with self._lock:
            taken = bytes(self._unread)
            self._unread.clear()
            if self._sink is not None:
                written = os.fstat(self._sink).st_size
                if written > self._sink_read:
                    more = os.pread(self._sink, written - self._sink_read, self._sink_read)
                    self._sink_read += len(more)
                    taken += more
        return taken

    @contextmanager
    def capture(self) -> Iterator[None]:
        """Route fd 1 and fd 2 through a temporary file for the duration of the block."""
        _flush_all()
        with (
            tempfile.TemporaryFile() as sink,
            open(
                os.dup(sink.fileno()), "w", encoding="utf-8", errors="replace", buffering=1
            ) as python_sink,
            redirect_stdout(python_sink),
            redirect_stderr(python_sink),
        ):
            saved_stdout, saved_stderr = os.dup(STDOUT_FD), os.dup(STDERR_FD)
            with self._lock:
                self._sink, self._sink_read = sink.fileno(), 0
            try:
                os.dup2(sink.fileno(), STDOUT_FD)
                os.dup2(sink.fileno(), STDERR_FD)
                yield
            finally:
                _flush_all()
                python_sink.flush()
                os.dup2(saved_stdout, STDOUT_FD)
                os.dup2(saved_stderr, STDERR_FD)
                os.close(saved_stdout)
                os.close(saved_stderr)
                sink.seek(0)
                self._keep(sink.read())

    def _keep(self, output: bytes) -> None:
        with self._lock:
            self._unread += output[self._sink_read :]
            del self._unread[: max(0, len(self._unread) - MAX_UNREAD_BYTES)]
            self._sink = None
        if not output:
            return
        _write_all(STDERR_FD, output)
        text = output.decode("utf-8", errors="replace")
        self._lines.extend(line for line in text.splitlines() if line.strip())
