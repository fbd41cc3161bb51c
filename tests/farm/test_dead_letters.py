"""Chunks that die without a word (workers killed until MaxDeliveryCount) still fail their job."""

from __future__ import annotations

import threading
from pathlib import Path

from azure.servicebus import ServiceBusClient

from renderfarm_azure.dead_letters import drain
from testbed.emulators import ServiceBusEmulator
from tests.farm.conftest import Farm


def test_chunk_dead_lettered_by_max_delivery_count_fails_its_job(
    farm: Farm, scene_blend: Path, farm_bus: ServiceBusEmulator
) -> None:
    sha = farm.upload_scene(scene_blend)
    job = farm.submit(sha, frames="1-2", chunk_size=2)
    with ServiceBusClient.from_connection_string(farm_bus.connection_string) as client:
        with client.get_queue_receiver(farm_bus.queue_name) as receiver:
            for _ in range(3):  # three workers that died holding it (MaxDeliveryCount is 3)
                (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=5)
                receiver.abandon_message(message)
        assert farm_bus.counts()["dead_letter_message_count"] == 1
        handled = drain(client, farm.jobs, farm_bus.queue_name, stop=threading.Event(), once=True)
    assert handled == 1
    status = farm.status(job)
    assert status["state"] == "failed"
    (chunk,) = status["chunks"]
    assert chunk["state"] == "failed"
    assert chunk["attempts"] == 3
    assert chunk["last_error"].startswith("MaxDeliveryCountExceeded")
    assert farm_bus.counts()["dead_letter_message_count"] == 0


def test_dead_letter_of_a_chunk_the_worker_already_failed_keeps_its_reason(
    farm: Farm, corrupt_blend: Path, farm_bus: ServiceBusEmulator
) -> None:
    sha = farm.upload_scene(corrupt_blend)
    job = farm.submit(sha, frames="1-2", chunk_size=2)
    farm.start_worker()
    farm.wait_for(job, lambda status: status["state"] == "failed")
    with ServiceBusClient.from_connection_string(farm_bus.connection_string) as client:
        drain(client, farm.jobs, farm_bus.queue_name, stop=threading.Event(), once=True)
    (chunk,) = farm.status(job)["chunks"]
    assert chunk["last_error"].startswith("SceneError")
