"""The last lines Blender wrote, kept so a failed chunk can report them.

Blender writes its log (CLOG, driver errors) to fd 2 below Python, and its operator reports
(``Error: ...``) through ``sys.stdout``, which a host (pytest, a logging setup) may have pointed
away from fd 1. During each captured call both descriptors and both Python streams point at one
temporary file (one file keeps the streams in order); on exit the text is passed on to the
original stderr and its lines are kept. Other threads' writes to fd 1/2 during a capture land in
the same file: they are delayed (and counted in the tail), not lost.
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout

STDOUT_FD = 1
STDERR_FD = 2

_libc = ctypes.CDLL(None)


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

    def tail(self) -> tuple[str, ...]:
        """The most recent lines, oldest first."""
        return tuple(self._lines)

    def clear(self) -> None:
        self._lines.clear()

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
        if not output:
            return
        _write_all(STDERR_FD, output)
        text = output.decode("utf-8", errors="replace")
        self._lines.extend(line for line in text.splitlines() if line.strip())
