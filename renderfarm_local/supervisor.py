"""Child processes that start in their own session, stop with SIGTERM and never outlive us.

Each child leads its own process group, so a Ctrl-C in the terminal reaches only the supervisor,
which then stops the children in its own order (workers before the queue they talk to). On Linux
each child also asks the kernel for SIGTERM should the supervisor die without cleaning up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_STOP_TIMEOUT_S = 10.0
_POLL_S = 0.05
_PR_SET_PDEATHSIG = 1
#: Runs first in each child: ask the kernel for SIGTERM when the thread that forked it dies, then
#: become the child's own program (same pid). Not a preexec_fn: that runs Python in the forked
#: copy of a threaded parent before exec, which can deadlock (seen on Python 3.13: children stuck
#: on a futex when two autoscaler threads spawned workers at once).
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys; "
    f"ctypes.CDLL(None).prctl({_PR_SET_PDEATHSIG}, signal.SIGTERM); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


class ProcessFailed(RuntimeError):
    """A child exited, or did not become ready, when the farm needed it."""


def _with_parent_death_signal(argv: Sequence[str]) -> list[str]:
    if sys.platform != "linux":
        return list(argv)
    return [sys.executable, "-I", "-c", _DIE_WITH_PARENT, *argv]


@dataclass(frozen=True, kw_only=True)
class ProcessSpec:
    """What to run and where its output goes."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path | None = None
    log_path: Path | None = None
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S


class ManagedProcess:
    """One running child."""

    def __init__(self, spec: ProcessSpec):
        self.spec = spec
        self._popen = self._spawn(spec)
        log.info("started %s (pid %d)", spec.name, self._popen.pid)

    @staticmethod
    def _spawn(spec: ProcessSpec) -> subprocess.Popen[bytes]:
        output = subprocess.DEVNULL
        log_file = None
        if spec.log_path is not None:
            spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = spec.log_path.open("ab")
        try:
            return subprocess.Popen(
                _with_parent_death_signal(spec.argv),
                env=dict(spec.env),
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_file or output,
                stderr=subprocess.STDOUT if log_file else output,
                start_new_session=True,
            )
        except OSError as error:
            raise ProcessFailed(f"cannot start {spec.name}: {error}") from None
        finally:
            if log_file is not None:
                log_file.close()

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def is_running(self) -> bool:
        return self._popen.poll() is None

    def signal_group(self, sig: int = signal.SIGTERM) -> None:
        """Signal the child's whole process group, so its own children stop too."""
        if self.is_running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, sig)

    def wait(self, timeout_s: float) -> int:
        """Wait for the exit; SIGKILL the group if it has not come within ``timeout_s``."""
        try:
            return self._popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s ignored SIGTERM for %.0f s: killing it", self.spec.name, timeout_s)
            self.signal_group(signal.SIGKILL)
            return self._popen.wait()

    def stop(self) -> int:
        self.signal_group(signal.SIGTERM)
        code = self.wait(self.spec.stop_timeout_s)
        log.info("stopped %s (exit %d)", self.spec.name, code)
        return code


def stop_all(processes: Sequence[ManagedProcess]) -> None:
    """SIGTERM every process at once, then wait for each: N graceful exits take one grace time."""
    for process in processes:
        process.signal_group(signal.SIGTERM)
    for process in processes:
        process.wait(process.spec.stop_timeout_s)


def wait_until_ready(
    process: ManagedProcess, ready: Callable[[], bool], *, timeout_s: float
) -> None:
    """Poll ``ready`` until it holds; fail early if the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.is_running():
            raise ProcessFailed(
                f"{process.spec.name} exited with {process.returncode} while starting"
                + (f" (see {process.spec.log_path})" if process.spec.log_path else "")
            )
        if ready():
            return
        time.sleep(_POLL_S)
    raise ProcessFailed(f"{process.spec.name} was not ready within {timeout_s:.0f} s")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
        return True
    return False


def free_port() -> int:
    """A port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Supervisor:
    """Starts children and stops them in reverse order of start."""

    def __init__(self) -> None:
        self._processes: list[ManagedProcess] = []

    def start(self, spec: ProcessSpec) -> ManagedProcess:
        process = ManagedProcess(spec)
        self._processes.append(process)
        return process

    def stop_all(self) -> None:
        while self._processes:
            self._processes.pop().stop()
