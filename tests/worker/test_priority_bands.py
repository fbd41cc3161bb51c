"""The worker loop against the Service Bus emulator with a pool's three band queues: messages are
taken highest band first, and an idle worker's AMQP traffic stays bounded.

The loop runs in-process over the real SDK and the real emulator; a stand-in ChunkRenderer notes
which chunk it was handed and completes it. Frames sent on the wire are counted at the SDK's
AMQP connection (``Connection._send_frame``), one call per frame written to the socket.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceiver
from azure.servicebus._pyamqp._connection import Connection

from containerapp_worker.chunk_outcome import Outcome, Verdict
from containerapp_worker.worker import RunEnd, Worker, WorkerOptions
from renderfarm.jobs.chunk_messages import ChunkMessage
from renderfarm.shared.blend_header import BlenderVersion
from renderfarm.shared.blender_pools import pool_queues
from renderfarm.shared.render_settings import RenderSettings
from testbed.emulators import ServiceBusEmulator, run_servicebus, write_config

pytestmark = pytest.mark.timeout(120)

PREFIX = "render-chunks"
HIGH, NORMAL, LOW = pool_queues(PREFIX, BlenderVersion(5, 3))
QUEUES: dict[str, dict[str, Any]] = {
    queue: {"LockDuration": "PT30S", "MaxDeliveryCount": 5} for queue in (HIGH, NORMAL, LOW)
}
PER_QUEUE = 3
#: An idle worker's pass shares receive_wait_s (2 s) among its three queues: two flow frames per
#: receive, one granting a message's credit and one taking it back when none came
#: (renderfarm_azure/link_credit.py), about 6 / 2 s = 3 frames a second. Not quite twice that
#: is the bound.
IDLE_FRAMES_PER_S = 5.0


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceBusEmulator]:
    folder = tmp_path_factory.mktemp("priority-bands-bus")
    with run_servicebus(folder / "data", write_config(folder / "config.json", QUEUES)) as service:
        yield service


@dataclass(kw_only=True)
class NotingChunks:
    """Stands in for ChunkRenderer: notes each chunk's job (named after its band) and completes
    it."""

    taken: list[str] = field(default_factory=list)
    #: Runs after each chunk is noted, while the worker still holds its message.
    then: Callable[[], None] | None = None

    def render(self, chunk: ChunkMessage, *, lock_lost: threading.Event) -> Outcome:
        self.taken.append(chunk.job_id.split("-")[0])
        if self.then is not None:
            self.then()
        return Outcome(verdict=Verdict.COMPLETE, reason="Rendered", frames_rendered=1)


def chunk(band: str, index: int) -> ServiceBusMessage:
    message = ChunkMessage(
        job_id=f"{band}-{uuid.uuid4().hex[:8]}",
        chunk_index=index,
        frames=(index + 1,),
        scene_sha256="0" * 64,
        render=RenderSettings(),
        tenant="studio",
        priority={"high": 8, "normal": 5, "low": 2}[band],
    )
    return ServiceBusMessage(message.to_json(), message_id=message.message_id)


def run_worker(
    bus: ServiceBusEmulator, chunks: NotingChunks, stop: threading.Event, **options: Any
) -> RunEnd:
    with ServiceBusClient.from_connection_string(bus.connection_string) as client:
        worker = Worker(
            client=client,
            chunks=chunks,  # type: ignore[arg-type]  # a stand-in with ChunkRenderer's render
            options=WorkerOptions(queue_names=(HIGH, NORMAL, LOW), **options),
            stop=stop,
        )
        return worker.run()


def test_a_worker_takes_every_high_message_then_normal_then_low(
    bus: ServiceBusEmulator,
) -> None:
    with ServiceBusClient.from_connection_string(bus.connection_string) as client:
        # Lowest first, so that arrival order alone would give the opposite answer.
        for band, queue in (("low", LOW), ("normal", NORMAL), ("high", HIGH)):
            with client.get_queue_sender(queue) as sender:
                sender.send_messages([chunk(band, index) for index in range(PER_QUEUE)])
    chunks = NotingChunks()
    end = run_worker(bus, chunks, threading.Event(), max_messages=3 * PER_QUEUE)
    assert end.handled == 3 * PER_QUEUE and not end.in_doubt
    assert chunks.taken == ["high"] * PER_QUEUE + ["normal"] * PER_QUEUE + ["low"] * PER_QUEUE
    for queue in (HIGH, NORMAL, LOW):
        assert bus.counts(queue)["active_message_count"] == 0


def test_a_high_message_sent_to_a_busy_worker_goes_before_the_low_backlog(
    bus: ServiceBusEmulator,
) -> None:
    """The band is asked before every message, not once per run."""
    chunks = NotingChunks()
    with ServiceBusClient.from_connection_string(bus.connection_string) as client:
        with client.get_queue_sender(LOW) as sender:
            sender.send_messages([chunk("low", index) for index in range(4)])
        taken_one = threading.Event()

        def send_high_while_busy() -> None:
            if len(chunks.taken) == 1:  # the worker is busy with its first low chunk
                with client.get_queue_sender(HIGH) as sender:
                    sender.send_messages(chunk("high", 0))
                taken_one.set()

        chunks.then = send_high_while_busy
        end = run_worker(bus, chunks, threading.Event(), max_messages=5)
    assert taken_one.is_set() and end.handled == 5
    assert chunks.taken == ["low", "high", "low", "low", "low"]


def test_right_after_a_chunk_an_empty_higher_band_is_peeked_at_not_waited_on(
    bus: ServiceBusEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receive on an empty queue waits at least the SDK's 0.2 s step: between two chunks of
    the normal band the worker receives from the normal queue only."""
    asked: list[str] = []  # "receive <queue>" and "render <band>", in order
    receive = ServiceBusReceiver.receive_messages

    def noted(self: ServiceBusReceiver, *args: Any, **kwargs: Any) -> Any:
        asked.append(f"receive {self.entity_path}")
        return receive(self, *args, **kwargs)

    monkeypatch.setattr(ServiceBusReceiver, "receive_messages", noted)
    chunks = NotingChunks()
    chunks.then = lambda: asked.append(f"render {chunks.taken[-1]}")
    with (
        ServiceBusClient.from_connection_string(bus.connection_string) as client,
        client.get_queue_sender(NORMAL) as sender,
    ):
        sender.send_messages([chunk("normal", index) for index in range(3)])
    end = run_worker(bus, chunks, threading.Event(), max_messages=3)
    assert end.handled == 3 and chunks.taken == ["normal"] * 3
    between = asked[asked.index("render normal") :]
    assert between == [
        "render normal",
        f"receive {NORMAL}",
        "render normal",
        f"receive {NORMAL}",
        "render normal",
    ]


def test_an_idle_pass_shares_its_wait_among_the_queues_as_told(
    bus: ServiceBusEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[tuple[str, float]] = []
    receive = ServiceBusReceiver.receive_messages

    def noted(self: ServiceBusReceiver, *args: Any, **kwargs: Any) -> Any:
        waits.append((self.entity_path, kwargs["max_wait_time"]))
        return receive(self, *args, **kwargs)

    monkeypatch.setattr(ServiceBusReceiver, "receive_messages", noted)
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker,
        args=(bus, NotingChunks(), stop),
        kwargs={"receive_wait_s": 1.0, "idle_shares": (1.0, 3.0, 1.0)},
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(waits) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
    assert waits[:6] == [(HIGH, 0.2), (NORMAL, 0.6), (LOW, 0.2)] * 2


def test_a_message_sent_while_a_worker_renders_stays_free_for_another_worker(
    bus: ServiceBusEmulator,
) -> None:
    """A busy worker's idle band receivers hold no credit: the broker does not lock a new high
    message to a worker that cannot take it until its chunk ends."""
    busy, release = threading.Event(), threading.Event()

    def hold_the_chunk() -> None:
        busy.set()
        release.wait(30)

    chunks = NotingChunks(then=hold_the_chunk)
    stop = threading.Event()
    with ServiceBusClient.from_connection_string(bus.connection_string) as client:
        with client.get_queue_sender(LOW) as sender:
            sender.send_messages(chunk("low", 0))
        worker = threading.Thread(
            target=run_worker, args=(bus, chunks, stop), kwargs={"max_messages": 1}
        )
        worker.start()
        try:
            assert busy.wait(30), "the worker never took the low chunk"
            with client.get_queue_sender(HIGH) as sender:
                sender.send_messages(chunk("high", 0))
            with client.get_queue_receiver(HIGH) as other_worker:
                taken = other_worker.receive_messages(max_message_count=1, max_wait_time=5)
                assert len(taken) == 1, "the high message is locked to the busy worker"
                assert taken[0].delivery_count == 0
                other_worker.complete_message(taken[0])
        finally:
            release.set()
            stop.set()
            worker.join(30)
    assert chunks.taken == ["low"]


def test_an_idle_worker_sends_few_amqp_frames_a_second(
    bus: ServiceBusEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[float, str]] = []  # (when, the frame's performative)
    lock = threading.Lock()
    send_frame = Connection._send_frame

    def counted(self: Connection, channel: int, frame: Any, **kwargs: Any) -> None:
        with lock:
            sent.append((time.monotonic(), type(frame).__name__))
        send_frame(self, channel, frame, **kwargs)

    def flows() -> int:
        with lock:
            return sum(name == "FlowFrame" for _, name in sent)

    monkeypatch.setattr(Connection, "_send_frame", counted)
    stop = threading.Event()
    chunks = NotingChunks()
    ended: list[RunEnd] = []
    thread = threading.Thread(target=lambda: ended.append(run_worker(bus, chunks, stop)))
    thread.start()
    idle_s = 10.0
    try:
        # Connected, CBS token put, three links attached, and each queue asked once: from here
        # on it only waits (however slowly a loaded machine got it there).
        deadline = time.monotonic() + 60
        while flows() < 3:
            assert time.monotonic() < deadline and thread.is_alive(), sent
            time.sleep(0.05)
        time.sleep(2.5)  # one whole cycle more: the links' own first flows are behind us
        start = time.monotonic()
        time.sleep(idle_s)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive() and ended and not ended[0].in_doubt
    assert chunks.taken == []
    frames = Counter(name for at, name in sent if start <= at < start + idle_s)
    total = sum(frames.values())
    assert frames["FlowFrame"] >= 3, frames  # it did ask every queue while counted
    assert total / idle_s <= IDLE_FRAMES_PER_S, frames
