"""When the emulator's broker next has timed work (a lock to expire, a scheduled message to show,
a message to expire), so that its server sleeps until then instead of waking 20 times a second
(it idles beside the farm's Blender, on the same cores). The broker alone, on a clock of our own.
"""

from __future__ import annotations

from pathlib import Path

from emulators.servicebus.broker import Broker
from emulators.servicebus.codec import IncomingMessage
from emulators.servicebus.config import EmulatorConfig, QueueConfig
from emulators.servicebus.store import SqliteStore

LOCK_MS = 30_000
WINDOW_MS = 1_000


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


def message(
    *, ttl_ms: int | None = None, scheduled_ms: int | None = None, message_id: str | None = None
) -> IncomingMessage:
    return IncomingMessage(
        message_id=message_id,
        ttl_ms=ttl_ms,
        priority=4,
        scheduled_enqueue_ms=scheduled_ms,
        annotations=b"",
        properties=b"",
        application_properties=b"",
        body=b"",
    )


def new_broker(tmp_path: Path, clock: Clock) -> Broker:
    queues = (
        QueueConfig(name="jobs", lock_duration_ms=LOCK_MS),
        QueueConfig(
            name="events", requires_duplicate_detection=True, duplicate_window_ms=WINDOW_MS
        ),
    )
    config = EmulatorConfig(namespace="tests", queues=queues)
    return Broker(config, SqliteStore(tmp_path / "messages.sqlite3"), clock=clock)


def test_an_idle_broker_has_nothing_due(tmp_path: Path) -> None:
    broker = new_broker(tmp_path, Clock())

    assert broker.tick() == (set(), None)
    assert broker.take_due_added() is None


def test_a_lock_handed_out_is_due_when_it_expires_and_then_the_message_comes_back(
    tmp_path: Path,
) -> None:
    clock = Clock()
    broker = new_broker(tmp_path, clock)
    broker.send("jobs", [message()])
    broker.take_due_added()

    assert broker.receive("jobs", lock=True) is not None
    assert broker.take_due_added() == clock.ms + LOCK_MS  # the server plans its tick sooner
    assert broker.tick() == (set(), clock.ms + LOCK_MS)

    clock.ms += LOCK_MS
    woken, due = broker.tick()
    assert woken == {"jobs"} and due is None
    assert broker.receive("jobs", lock=False) is not None


def test_a_scheduled_message_is_due_at_its_time_and_shows_then(tmp_path: Path) -> None:
    clock = Clock()
    broker = new_broker(tmp_path, clock)

    broker.send("jobs", [message(scheduled_ms=clock.ms + 100)])

    assert broker.take_due_added() == clock.ms + 100
    assert broker.tick() == (set(), clock.ms + 100)
    assert broker.receive("jobs", lock=False) is None
    clock.ms += 100
    assert broker.tick() == ({"jobs"}, None)
    assert broker.receive("jobs", lock=False) is not None


def test_the_earliest_of_several_deadlines_is_the_one_due(tmp_path: Path) -> None:
    clock = Clock()
    broker = new_broker(tmp_path, clock)

    broker.send("jobs", [message(scheduled_ms=clock.ms + 900), message(ttl_ms=400)])

    assert broker.take_due_added() == clock.ms + 400
    assert broker.take_due_added() is None  # taken once
    assert broker.tick()[1] == clock.ms + 400


def test_message_ids_are_forgotten_oldest_first_once_their_window_has_passed(
    tmp_path: Path,
) -> None:
    clock = Clock()
    broker = new_broker(tmp_path, clock)
    start = clock.ms
    broker.send("events", [message(message_id="x")])
    clock.ms += 600
    broker.send("events", [message(message_id="y")])
    assert broker.tick()[1] == start + WINDOW_MS  # x is due to be forgotten first

    clock.ms = start + WINDOW_MS
    assert broker.tick()[1] == start + 600 + WINDOW_MS  # y is next
    assert list(broker.entity("events").duplicates) == ["y"]

    assert broker.send("events", [message(message_id="x")]) != [0]  # a new message again
    assert broker.send("events", [message(message_id="y")]) == [0]  # still a duplicate


def test_an_id_sent_again_after_its_window_is_remembered_as_the_newest(tmp_path: Path) -> None:
    clock = Clock()
    broker = new_broker(tmp_path, clock)
    broker.send("events", [message(message_id="x")])
    clock.ms += 100
    broker.send("events", [message(message_id="y")])
    clock.ms += WINDOW_MS  # both windows passed, nothing forgotten yet (no tick)

    assert broker.send("events", [message(message_id="x")]) != [0]
    clock.ms += 200
    broker.tick()

    assert list(broker.entity("events").duplicates) == ["x"]  # y forgotten, x newer than it
    assert broker.send("events", [message(message_id="x")]) == [0]
    assert broker.send("events", [message(message_id="y")]) != [0]
