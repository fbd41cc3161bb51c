"""A competing consumer, run as its own OS process by test_competing_consumers.py.

Usage: python -m tests.emulator.competing_receiver CONNECTION_STRING QUEUE OUT_FILE COUNTS_URL

Receives PEEK_LOCK and completes, writing each message id to OUT_FILE once it is completed; prints
``ready`` once its receiver is attached, and stops when a receive comes back empty and the queue
holds no message any more.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from azure.servicebus import ServiceBusClient

MAX_WAIT_S = 1.0
BATCH = 20


def queue_is_empty(counts_url: str) -> bool:
    with urllib.request.urlopen(counts_url, timeout=5) as response:  # noqa: S310 (loopback)
        return int(json.load(response)["total_message_count"]) == 0


def main(connection_string: str, queue: str, out_file: Path, counts_url: str) -> int:
    with (
        ServiceBusClient.from_connection_string(connection_string) as client,
        client.get_queue_receiver(queue) as receiver,
        out_file.open("w", encoding="utf-8") as out,
    ):
        print("ready", flush=True)
        while True:
            messages = receiver.receive_messages(max_message_count=BATCH, max_wait_time=MAX_WAIT_S)
            for message in messages:
                receiver.complete_message(message)
                out.write(f"{message.message_id}\n")
                out.flush()
            if not messages and queue_is_empty(counts_url):
                return 0


if __name__ == "__main__":
    connection, queue_name, path, url = sys.argv[1:5]
    sys.exit(main(connection, queue_name, Path(path), url))
