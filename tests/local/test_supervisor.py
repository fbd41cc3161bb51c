"""The supervisor brings dead services back: with backoff, counted, and not forever."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from renderfarm_local.supervisor import (
    ProcessSpec,
    RestartPolicy,
    ServiceState,
    SupervisedService,
    Supervisor,
)

QUICK = RestartPolicy(first_delay_s=0.1, factor=2.0, max_delay_s=0.4, stable_after_s=1.0)
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
CRASHER = [sys.executable, "-c", "raise SystemExit(3)"]


def _wait_for(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    pytest.fail("timed out")


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    running = Supervisor(QUICK, check_every_s=0.02)
    try:
        yield running
    finally:
        running.stop_all()


def test_a_killed_service_is_restarted_and_counted(supervisor: Supervisor) -> None:
    first = supervisor.start(ProcessSpec(name="api", argv=SLEEPER))
    supervisor.watch()
    first.signal_group(signal.SIGKILL)

    _wait_for(lambda: supervisor.health()[0].restarts == 1)
    health = supervisor.health()[0]
    assert health.state is ServiceState.RUNNING
    assert health.last_exit == -signal.SIGKILL
    assert health.pid == supervisor.process("api").pid != first.pid
    assert supervisor.process("api").is_running()


def test_each_restart_is_logged_with_the_exit_code(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor.start(ProcessSpec(name="events", argv=SLEEPER)).signal_group(signal.SIGKILL)
    supervisor.watch()
    _wait_for(lambda: supervisor.health()[0].restarts == 1)
    assert f"events exited with {-signal.SIGKILL}" in caplog.text
    assert "restarted events" in caplog.text


def test_a_service_that_keeps_crashing_is_marked_failed_and_left_down(
    supervisor: Supervisor,
) -> None:
    supervisor.start(ProcessSpec(name="crasher", argv=CRASHER))
    supervisor.watch()
    _wait_for(lambda: supervisor.health()[0].state is ServiceState.FAILED)
    health = supervisor.health()[0]
    assert health.restarts == QUICK.max_crashes_in_a_row  # then one crash too many
    assert health.last_exit == 3
    assert health.pid is None
    time.sleep(0.5)
    assert supervisor.health()[0].restarts == health.restarts  # no more tries


def test_restarts_back_off_exponentially_up_to_the_cap() -> None:
    policy = RestartPolicy(first_delay_s=0.5, factor=2.0, max_delay_s=30.0)
    assert [policy.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_a_run_that_lasted_resets_the_backoff(tmp_path: Path) -> None:
    clock = [0.0]
    marker = tmp_path / "go"
    # Exits once the marker exists, so the test decides when each run ends.
    argv = [
        sys.executable,
        "-c",
        f"import os, time\nwhile not os.path.exists({str(marker)!r}): time.sleep(0.01)",
    ]
    service = SupervisedService(
        ProcessSpec(name="azurite", argv=argv), QUICK, clock=lambda: clock[0]
    )
    try:
        delays = []
        for ran_s in (0.1, 0.1, 5.0):  # two quick crashes, then one after a stable run
            marker.touch()
            service.process.wait(5)
            clock[0] += ran_s
            service.check()
            assert service.state is ServiceState.RESTARTING
            delays.append(service.health().restart_in_s)
            marker.unlink()
            clock[0] += 1.0
            service.check()
            assert service.health().state is ServiceState.RUNNING
        assert delays == pytest.approx([0.1, 0.2, 0.1])
        assert service.restarts == 3
    finally:
        service.stop()


def test_stopping_the_farm_does_not_count_as_a_crash(supervisor: Supervisor) -> None:
    process = supervisor.start(ProcessSpec(name="servicebus", argv=SLEEPER))
    supervisor.watch()
    supervisor.stop_all()
    assert not process.is_running()
    assert supervisor.health() == []
