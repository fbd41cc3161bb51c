"""Child processes that start in their own session, stop with SIGTERM, never outlive us, and
come back when they die.

Each child leads its own process group, so a Ctrl-C in the terminal reaches only the supervisor,
which then stops the children in its own order (workers before the queue they talk to). On Linux
each child also asks the kernel for SIGTERM should the supervisor die without cleaning up.

A service that exits while the farm runs is restarted, as Azure restarts a crashed Functions host
or Container Apps replica: after a delay that doubles with each crash in a row (up to a cap), and
not at all once it has crashed too often without ever staying up (it is then marked failed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
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
    "os.nice(int(sys.argv[1])); "
    "os.execvp(sys.argv[2], sys.argv[2:])"
)


class ProcessFailed(RuntimeError):
    """A child exited, or did not become ready, when the farm needed it."""


def _with_parent_death_signal(argv: Sequence[str], niceness: int) -> list[str]:
    if sys.platform != "linux":
        return list(argv)
    return [sys.executable, "-I", "-c", _DIE_WITH_PARENT, str(niceness), *argv]


@dataclass(frozen=True, kw_only=True)
class ProcessSpec:
    """What to run and where its output goes."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path | None = None
    log_path: Path | None = None
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S
    #: Added to the child's nice value (Linux): the farm's own services yield the cores to the
    #: Blenders rendering beside them on one machine.
    niceness: int = 0


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
                _with_parent_death_signal(spec.argv, spec.niceness),
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


@dataclass(frozen=True, kw_only=True)
class RestartPolicy:
    """When a service that died comes back: exponential backoff with a cap, reset by a run that
    lasted ``stable_after_s``; more than ``max_crashes_in_a_row`` short runs mark it failed."""

    first_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 30.0
    stable_after_s: float = 30.0
    max_crashes_in_a_row: int = 6

    def delay(self, crashes_in_a_row: int) -> float:
        return min(self.max_delay_s, self.first_delay_s * self.factor ** (crashes_in_a_row - 1))


class ServiceState(Enum):
    RUNNING = "running"
    RESTARTING = "restarting"  # died; waiting out its backoff
    FAILED = "failed"  # crashed too often in a row: left down
    STOPPED = "stopped"


@dataclass(frozen=True, kw_only=True)
class ServiceHealth:
    """One service as the live view shows it."""

    name: str
    state: ServiceState
    pid: int | None
    restarts: int
    last_exit: int | None
    restart_in_s: float | None = None


class SupervisedService:
    """A long-running child that the supervisor brings back after a crash."""

    def __init__(
        self,
        spec: ProcessSpec,
        policy: RestartPolicy,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.spec = spec
        self._policy = policy
        self._clock = clock
        self.process = ManagedProcess(spec)
        self._started_at = clock()
        self._crashes_in_a_row = 0
        self._restart_at: float | None = None
        self.state = ServiceState.RUNNING
        self.restarts = 0
        self.last_exit: int | None = None

    def check(self) -> None:
        """Notice a death and schedule the restart, or restart once the backoff is over."""
        now = self._clock()
        if self.state is ServiceState.RUNNING and not self.process.is_running():
            self._died(self.process.returncode, ran_s=now - self._started_at, now=now)
        elif self.state is ServiceState.RESTARTING and now >= (self._restart_at or now):
            self._restart(now)

    def _died(self, code: int | None, *, ran_s: float, now: float) -> None:
        self.last_exit = code
        stable = ran_s >= self._policy.stable_after_s
        self._crashes_in_a_row = 1 if stable else self._crashes_in_a_row + 1
        if self._crashes_in_a_row > self._policy.max_crashes_in_a_row:
            self.state = ServiceState.FAILED
            log.error(
                "%s exited with %s, %d crashes in a row: not restarting it (see %s)",
                self.spec.name,
                code,
                self._crashes_in_a_row,
                self.spec.log_path or "its output",
            )
            return
        delay = self._policy.delay(self._crashes_in_a_row)
        self._restart_at = now + delay
        self.state = ServiceState.RESTARTING
        log.warning(
            "%s exited with %s after %.1f s: restarting it in %.1f s",
            self.spec.name,
            code,
            ran_s,
            delay,
        )

    def _restart(self, now: float) -> None:
        try:
            self.process = ManagedProcess(self.spec)
        except ProcessFailed as error:
            log.warning("%s", error)
            self._died(None, ran_s=0.0, now=now)
            return
        self.restarts += 1
        self._started_at = now
        self.state = ServiceState.RUNNING
        log.warning(
            "restarted %s (pid %d, restart %d)", self.spec.name, self.process.pid, self.restarts
        )

    def health(self) -> ServiceHealth:
        restart_in = None
        if self.state is ServiceState.RESTARTING and self._restart_at is not None:
            restart_in = max(0.0, self._restart_at - self._clock())
        running = self.state is ServiceState.RUNNING
        return ServiceHealth(
            name=self.spec.name,
            state=self.state,
            pid=self.process.pid if running else None,
            restarts=self.restarts,
            last_exit=self.last_exit,
            restart_in_s=restart_in,
        )

    def stop(self) -> None:
        self.state = ServiceState.STOPPED
        self.process.stop()


class Supervisor:
    """Starts services, restarts those that die (once watching), and stops them in reverse order
    of start."""

    def __init__(self, policy: RestartPolicy | None = None, check_every_s: float = 0.25) -> None:
        self._policy = policy or RestartPolicy()
        self._check_every_s = check_every_s
        self._services: list[SupervisedService] = []
        self._layers: dict[str, int] = {}
        self._lock = threading.Lock()  # the watchdog's checks against stop_all
        self._watching = threading.Event()
        self._watchdog: threading.Thread | None = None

    def start(self, spec: ProcessSpec, *, layer: int = 1) -> ManagedProcess:
        """Start a service. Stopping goes from the highest layer down, each layer at once:
        what others depend on (storage, a queue) goes in a lower layer and stops last."""
        service = SupervisedService(spec, self._policy)
        with self._lock:
            self._services.append(service)
            self._layers[spec.name] = layer
        return service.process

    def watch(self) -> None:
        """From now on, bring back any service that dies (the start-up waits come first, so a
        service that cannot start at all stops the farm instead)."""
        self._watching.set()
        self._watchdog = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        while self._watching.is_set():
            with self._lock:
                for service in self._services:
                    if self._watching.is_set():
                        service.check()
            time.sleep(self._check_every_s)

    def health(self) -> list[ServiceHealth]:
        with self._lock:
            return [service.health() for service in self._services]

    def process(self, name: str) -> ManagedProcess:
        """The current process of the service ``name`` (a restart replaces it)."""
        with self._lock:
            for service in self._services:
                if service.spec.name == name:
                    return service.process
        raise KeyError(name)

    def stop_all(self) -> None:
        self._watching.clear()
        if self._watchdog is not None:
            self._watchdog.join()
            self._watchdog = None
        with self._lock:
            for layer in sorted(set(self._layers.values()), reverse=True):
                stopping = [s for s in self._services if self._layers[s.spec.name] == layer]
                stop_all([service.process for service in reversed(stopping)])
                for service in stopping:
                    service.state = ServiceState.STOPPED
                    log.info("stopped %s (exit %s)", service.spec.name, service.process.returncode)
            self._services.clear()
