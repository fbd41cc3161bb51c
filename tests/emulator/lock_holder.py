"""A receiver that vanishes while it holds locks, run as its own process by test_sturdiness.py.

Usage: python -m tests.emulator.lock_holder CONNECTION_STRING QUEUE COUNT

Receives COUNT messages PEEK_LOCK, prints their message ids one a line, and exits at once without
settling them or closing its connection, as a crashed worker does.
"""

from __future__ import annotations

import os
import sys

from azure.servicebus import ServiceBusClient

MAX_WAIT_S = 5.0


def main(connection_string: str, queue: str, count: int) -> None:
    client = ServiceBusClient.from_connection_string(connection_string)
    receiver = client.get_queue_receiver(queue)
    held = receiver.receive_messages(max_message_count=count, max_wait_time=MAX_WAIT_S)
    for message in held:
        sys.stdout.write(f"{message.message_id}\n")
    sys.stdout.flush()
    os._exit(0)  # no settlement, no detach, no close: the kernel drops the socket


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
