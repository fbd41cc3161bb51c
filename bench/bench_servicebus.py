"""Throughput of the local Service Bus emulator, driven by the official SDK over loopback.

Starts its own emulator on free ports with a fresh data folder and prints messages per second for
batched send, single send and PEEK_LOCK receive + complete. Asserts nothing.

    .venv/bin/python -m bench.bench_servicebus [--batched 20000] [--single 2000] [--receive 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from azure.servicebus import ServiceBusClient, ServiceBusMessage

from testbed.emulators import run_servicebus, write_config

QUEUE = "bench"
BATCH_SIZE = 100
RECEIVE_BATCH = 100
BODY = b'{"job": "bench", "chunk": 0, "frames": [1, 2, 3, 4]}'
RECEIVE_WAIT_S = 5.0


@dataclass(frozen=True, kw_only=True)
class Figure:
    name: str
    messages: int
    seconds: float

    def line(self) -> str:
        rate = self.messages / self.seconds
        return f"{self.name:<32} {self.messages:>7,} msgs {self.seconds:7.2f} s {rate:>9,.0f} msg/s"


def send_batched(client: ServiceBusClient, count: int) -> Figure:
    with client.get_queue_sender(QUEUE) as sender:
        started = time.perf_counter()
        for start in range(0, count, BATCH_SIZE):
            batch = sender.create_message_batch()
            for i in range(start, min(start + BATCH_SIZE, count)):
                batch.add_message(ServiceBusMessage(BODY, message_id=f"b-{i}"))
            sender.send_messages(batch)
        elapsed = time.perf_counter() - started
    return Figure(name=f"send, batches of {BATCH_SIZE}", messages=count, seconds=elapsed)


def send_single(client: ServiceBusClient, count: int) -> Figure:
    with client.get_queue_sender(QUEUE) as sender:
        started = time.perf_counter()
        for i in range(count):
            sender.send_messages(ServiceBusMessage(BODY, message_id=f"s-{i}"))
        elapsed = time.perf_counter() - started
    return Figure(name="send, one message a call", messages=count, seconds=elapsed)


def receive_and_complete(client: ServiceBusClient, count: int) -> Figure:
    done = 0
    with client.get_queue_receiver(QUEUE) as receiver:
        started = time.perf_counter()
        while done < count:
            messages = receiver.receive_messages(
                max_message_count=min(RECEIVE_BATCH, count - done), max_wait_time=RECEIVE_WAIT_S
            )
            if not messages:
                raise RuntimeError(f"the queue ran dry after {done} of {count} messages")
            for message in messages:
                receiver.complete_message(message)
            done += len(messages)
        elapsed = time.perf_counter() - started
    name = f"PEEK_LOCK receive ({RECEIVE_BATCH}) + complete"
    return Figure(name=name, messages=count, seconds=elapsed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batched", type=int, default=20_000, help="messages sent in batches")
    parser.add_argument("--single", type=int, default=2_000, help="messages sent one by one")
    parser.add_argument("--receive", type=int, default=5_000, help="messages received+completed")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-servicebus-") as folder:
        config = write_config(Path(folder) / "config.json", {QUEUE: {"LockDuration": "PT5M"}})
        with (
            run_servicebus(Path(folder) / "data", config) as emulator,
            ServiceBusClient.from_connection_string(emulator.connection_string) as client,
        ):
            figures = [send_batched(client, args.batched), send_single(client, args.single)]
            receivable = min(args.receive, args.batched + args.single)
            figures.append(receive_and_complete(client, receivable))
    for figure in figures:
        print(figure.line())


if __name__ == "__main__":
    main()
