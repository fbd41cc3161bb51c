"""A stand-in for the render worker with the same contract and no Blender: take one message at
a time from RENDERFARM_QUEUE_NAME, hold it STAND_IN_HOLD_S seconds, complete it; on SIGTERM
abandon the message held and exit 0."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from azure.servicebus import ServiceBusClient

_STEP_S = 0.05


def main() -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    hold_s = float(os.environ.get("STAND_IN_HOLD_S", "0.5"))
    connection = os.environ["RENDERFARM_SERVICEBUS_CONNECTION_STRING"]
    # The local farm names a pool's band queues, highest first; the stand-in serves the normal
    # band's (the middle one), where jobs of the default priority go.
    names = os.environ.get("RENDERFARM_QUEUE_NAMES")
    queue = (
        names.split(",")[len(names.split(",")) // 2]
        if names
        else os.environ["RENDERFARM_QUEUE_NAME"]
    )
    with (
        ServiceBusClient.from_connection_string(connection) as bus,
        bus.get_queue_receiver(queue) as receiver,
    ):
        while not stop.is_set():
            for message in receiver.receive_messages(max_message_count=1, max_wait_time=0.5):
                deadline = time.monotonic() + hold_s
                while time.monotonic() < deadline and not stop.is_set():
                    time.sleep(_STEP_S)
                if stop.is_set():
                    receiver.abandon_message(message)
                else:
                    receiver.complete_message(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
