"""The local autoscaler against the Service Bus emulator, with stand-in workers (no Blender)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from azure.servicebus import ServiceBusClient, ServiceBusMessage

from renderfarm_local.autoscaler import Autoscaler, ManagementQueueDepth, ScalePoll
from renderfarm_local.scaling_rule import ScaleRule, ScalingParameters
from renderfarm_local.services import worker_spec
from renderfarm_local.supervisor import ProcessSpec
from renderfarm_local.worker_pool import WorkerPool
from testbed.emulators import ServiceBusEmulator, run_servicebus, write_config

QUEUE = "scale-test"
STAND_IN = Path(__file__).with_name("stand_in_worker.py")
# Powers of two keep the stand-in clock exact: cooldown / interval polls, no rounding.
INTERVAL_S = 0.25
COOLDOWN_S = 2.0
PARAMS = ScalingParameters(
    min_replicas=0,
    max_replicas=3,
    message_count=2,
    activation_message_count=0,
    polling_interval_s=INTERVAL_S,
    cooldown_period_s=COOLDOWN_S,
    scale_down_stabilization_s=0.5,
)
BACKLOG = 8
MAX_POLLS = 400


class SteppedClock:
    """The autoscaler's clock: one polling interval per poll, however long a poll really took."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _send_backlog(bus: ServiceBusEmulator) -> None:
    with (
        ServiceBusClient.from_connection_string(bus.connection_string) as client,
        client.get_queue_sender(QUEUE) as sender,
    ):
        sender.send_messages([ServiceBusMessage(f"chunk {n}") for n in range(BACKLOG)])


def _pool(bus: ServiceBusEmulator, logs: Path) -> WorkerPool:
    env = {
        "RENDERFARM_SERVICEBUS_CONNECTION_STRING": bus.connection_string,
        "RENDERFARM_QUEUE_NAME": QUEUE,
        "STAND_IN_HOLD_S": "0.5",
    }

    def spec_for(number: int) -> ProcessSpec:
        return worker_spec(
            name=f"stand-in-{number}",
            argv=[sys.executable, str(STAND_IN)],
            env=env,
            log_path=logs / f"stand-in-{number}.log",
        )

    return WorkerPool(spec_for)


def _watch(autoscaler: Autoscaler, clock: SteppedClock, bus: ServiceBusEmulator) -> list[ScalePoll]:
    """Poll until the queue is empty and the pool is back at zero (bounded)."""
    history: list[ScalePoll] = []
    for _ in range(MAX_POLLS):
        poll = autoscaler.poll()
        history.append(poll)
        if (
            poll.replicas == 0
            and bus.counts(QUEUE)["total_message_count"] == 0
            and len(history) > 1
        ):
            break
        clock.now += INTERVAL_S
        time.sleep(INTERVAL_S)
    return history


def test_autoscaler_scales_out_under_a_backlog_and_back_to_zero_after_the_cooldown(
    tmp_path: Path,
) -> None:
    config = write_config(
        tmp_path / "config.json", {QUEUE: {"LockDuration": "PT1M", "MaxDeliveryCount": 10}}
    )
    with run_servicebus(tmp_path / "bus", config) as bus:
        _send_backlog(bus)
        clock = SteppedClock()
        pool = _pool(bus, tmp_path / "logs")
        autoscaler = Autoscaler(
            rule=ScaleRule(params=PARAMS),
            queue_depth=ManagementQueueDepth(management_url=bus.management_url, queue_name=QUEUE),
            pool=pool,
            clock=clock,
        )
        try:
            history = _watch(autoscaler, clock, bus)
        finally:
            pool.stop()
        remaining = bus.counts(QUEUE)

    replicas = [poll.replicas for poll in history]
    assert replicas[0] == 3, "8 messages at 2 per replica, capped at 3"
    assert remaining["total_message_count"] == 0 and remaining["dead_letter_message_count"] == 0
    assert replicas[-1] == 0
    last_busy = max(i for i, poll in enumerate(history) if poll.active_messages > 0)
    first_zero = next(i for i, count in enumerate(replicas) if i > last_busy and count == 0)
    assert all(count >= 1 for count in replicas[:first_zero]), "never zero with work or in cooldown"
    assert first_zero - last_busy == int(COOLDOWN_S / INTERVAL_S), "zero exactly when cooled down"
    assert replicas[first_zero - 1] == 1, "an idle farm keeps one replica through the cooldown"


def test_stopping_the_pool_leaves_no_worker_running(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.json", {QUEUE: {"LockDuration": "PT1M"}})
    with run_servicebus(tmp_path / "bus", config) as bus:
        pool = _pool(bus, tmp_path / "logs")
        pool.scale_to(2)
        pids = [worker.pid for worker in pool._workers]
        pool.stop()
    assert pool.replicas == 0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()
