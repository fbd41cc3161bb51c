"""Three receiver processes compete for one queue: each message is handled exactly once."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from testbed.emulators import REPO, ServiceBusEmulator, stop_process

QUEUE = "competing"
RECEIVERS = 3
MESSAGES = 300
BATCH = 50
FINISH_TIMEOUT_S = 60  # fails rather than hangs


@pytest.fixture
def receivers(
    emulator: ServiceBusEmulator, tmp_path: Path
) -> Iterator[list[tuple[subprocess.Popen[str], Path]]]:
    """Start the receiver processes and wait until each has its receiver attached."""
    started: list[tuple[subprocess.Popen[str], Path]] = []
    try:
        for number in range(RECEIVERS):
            out = tmp_path / f"receiver-{number}.txt"
            argv = [
                sys.executable,
                "-m",
                "tests.emulator.competing_receiver",
                emulator.connection_string,
                QUEUE,
                str(out),
                f"{emulator.management_url}/queues/{QUEUE}",
            ]
            process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
            started.append((process, out))
        for process, _ in started:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        yield started
    finally:
        for process, _ in started:
            stop_process(process)  # type: ignore[arg-type]


def test_three_processes_share_300_messages_each_exactly_once(
    client: ServiceBusClient, receivers: list[tuple[subprocess.Popen[str], Path]]
) -> None:
    sent = [f"msg-{i:03d}" for i in range(MESSAGES)]
    with client.get_queue_sender(QUEUE) as sender:
        for start in range(0, MESSAGES, BATCH):
            batch = sender.create_message_batch()
            for message_id in sent[start : start + BATCH]:
                batch.add_message(ServiceBusMessage(message_id, message_id=message_id))
            sender.send_messages(batch)
    for process, _ in receivers:
        assert process.wait(FINISH_TIMEOUT_S) == 0
    got = [out.read_text(encoding="utf-8").split() for _, out in receivers]
    everything = [message_id for ids in got for message_id in ids]
    repeated = [message_id for message_id, n in Counter(everything).items() if n > 1]
    assert repeated == []
    assert set(everything) == set(sent)
    assert all(ids for ids in got), f"a receiver got nothing: {[len(ids) for ids in got]}"
