"""What only tests read of the farm's real dependencies: a job's events off the events queue.
The runners themselves (child processes on free loopback ports, waited on until they answer,
stopped with SIGTERM) are testbed/emulators.py's."""

from __future__ import annotations

from azure.servicebus import ServiceBusClient

from renderfarm.jobs.events import JobEvent
from testbed.emulators import ServiceBusEmulator


def events_of(bus: ServiceBusEmulator, job_id: str, queue: str = "job-events") -> list[JobEvent]:
    """Every event on the events queue for ``job_id``, received and completed (other jobs'
    events are completed and dropped: each test reads its own job's)."""
    found: list[JobEvent] = []
    with (
        ServiceBusClient.from_connection_string(bus.connection_string) as client,
        client.get_queue_receiver(queue) as receiver,
    ):
        while batch := receiver.receive_messages(max_message_count=50, max_wait_time=1):
            for message in batch:
                receiver.complete_message(message)
                event = JobEvent.from_json(b"".join(message.body))
                if event.job_id == job_id:
                    found.append(event)
    return found
