"""One rate limit for the whole farm: API instances that share Azurite's Table service count a
key once between them, and fail open (per process) while the table is down."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.data.tables import TableClient
from fastapi.testclient import TestClient

from renderfarm.keys.rate_limit import CounterContended, CounterStoreUnavailable, Window
from renderfarm.shared.settings import ENV_PREFIX, Settings
from renderfarm_azure.rate_limit_store import TableCounterStore, partition_key, row_key
from renderfarm_local.services import api_spec, http_json
from testbed.emulators import (
    Azurite,
    AzuriteTable,
    ServiceBusEmulator,
    free_port,
    run_azurite_table,
)
from tests.api.conftest import auth, settings_for

#: How often a process asks a table that was down again (the default is 5 s).
RETRY_S = 0.5


def table_name() -> str:
    return "rl" + uuid.uuid4().hex[:12]


def shared_settings(
    azurite: Azurite, servicebus: ServiceBusEmulator, connection: str, **overrides: Any
) -> Settings:
    fields: dict[str, Any] = {
        "rate_limit_table_connection_string": connection,
        "rate_limit_table": table_name(),
        "rate_limit_store_retry_seconds": RETRY_S,
        **overrides,
    }
    return settings_for(azurite, servicebus, **fields)


def counter_store(
    azurite: Azurite, name: str | None = None, **client_options: Any
) -> tuple[TableClient, TableCounterStore]:
    """A store that does not purge, over a table of its own (or ``name``), and its client."""
    table = TableClient.from_connection_string(
        azurite.table_connection_string, table_name=name or table_name(), **client_options
    )
    return table, TableCounterStore(table=table, purge=False)


def fresh_window(room_s: float = 12.0) -> None:
    """Wait for the next minute when this one ends within ``room_s``: a test's requests must
    fall in one window (they are counted per key per minute)."""
    left = Window.at(time.time()).seconds_left(time.time())
    if left < room_s:
        time.sleep(left + 0.1)


def statuses(client: TestClient, count: int) -> list[int]:
    return [client.get("/api/jobs", headers=auth()).status_code for _ in range(count)]


@pytest.fixture
def table(tmp_path: Path) -> Iterator[AzuriteTable]:
    """A Table service of this test's own, which it may stop and start."""
    with run_azurite_table(tmp_path / "table") as service:
        yield service


def test_two_api_instances_give_a_key_its_limit_once(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    settings = shared_settings(
        azurite, servicebus, azurite.table_connection_string, rate_limit_per_minute=5
    )
    first = make_client(settings)
    second = make_client(settings.model_copy())  # a second app: its own Services, one table
    assert first.app is not second.app
    fresh_window()
    answers = [
        client.get("/api/jobs", headers=auth()) for _ in range(4) for client in (first, second)
    ]
    assert [answer.status_code for answer in answers] == [200] * 5 + [429] * 3
    assert answers[4].headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(answers[5].headers["Retry-After"]) <= 60
    assert second.get("/api/jobs", headers=auth("globex")).status_code == 200


def test_a_table_restarted_mid_run_keeps_its_counts_and_the_api_stays_up(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
    table: AzuriteTable,
) -> None:
    client = make_client(
        shared_settings(azurite, servicebus, table.connection_string, rate_limit_per_minute=6)
    )
    fresh_window()
    assert statuses(client, 3) == [200] * 3
    table.stop()  # SIGTERM: Azurite saves its counters
    assert statuses(client, 2) == [200] * 2  # failing open, per process: never a 500
    table.start()
    time.sleep(RETRY_S + 0.1)
    # The table remembers the 3 counted before; the 2 during the restart were not counted.
    assert statuses(client, 4) == [200] * 3 + [429]


def test_an_unreachable_table_lets_requests_through_then_limits_once_it_is_back(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = AzuriteTable(port=free_port(), location=tmp_path / "table")  # nothing listens yet
    client = make_client(
        shared_settings(azurite, servicebus, down.connection_string, rate_limit_per_minute=4)
    )
    fresh_window()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="renderfarm.keys.rate_limit"):
        assert statuses(client, 4) == [200] * 4
        time.sleep(RETRY_S + 0.1)
        assert statuses(client, 1) == [429]  # the probe fails; the process's own limit holds
    assert time.monotonic() - started < 5
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
    down.start()
    try:
        time.sleep(RETRY_S + 0.1)
        # The process's own bucket is empty: these 200s are the table's count, then its 429.
        assert statuses(client, 5) == [200] * 4 + [429]
    finally:
        down.stop()


def test_a_slow_table_costs_one_bounded_wait_then_the_api_fails_open(
    azurite: Azurite,
    servicebus: ServiceBusEmulator,
    make_client: Callable[[Settings], TestClient],
) -> None:
    with black_hole() as port:
        slow = AzuriteTable(port=port, location=Path("/nonexistent")).connection_string
        client = make_client(
            shared_settings(azurite, servicebus, slow, rate_limit_store_retry_seconds=5.0)
        )
        started = time.monotonic()
        assert statuses(client, 1) == [200]
        assert time.monotonic() - started < 5  # the read timeout (2 s), no retries
        started = time.monotonic()
        assert statuses(client, 5) == [200] * 5
        assert time.monotonic() - started < 1


def test_concurrent_increments_lose_no_count(azurite: Azurite) -> None:
    table, store = counter_store(azurite)
    window = Window.at(time.time())
    counts: list[int] = []
    lock = threading.Lock()

    contended: list[CounterContended] = []

    def count_ten() -> None:
        for _ in range(10):
            try:
                value = store.increment(key="k", window=window)
            except CounterContended as error:  # allowed, if rare: no count was taken
                contended.append(error)
                continue
            with lock:
                counts.append(value)

    threads = [threading.Thread(target=count_ten) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every count taken is one more than the last: none lost, none given twice.
    assert sorted(counts) == list(range(1, len(counts) + 1))
    assert len(contended) <= 2, contended
    entity = table.get_entity(partition_key("k", window), row_key(window))
    assert entity["count"] == len(counts)
    store.close()


def test_a_process_counts_again_with_one_request_while_no_other_instance_counted(
    azurite: Azurite,
) -> None:
    methods: list[str] = []
    _, store = counter_store(
        azurite, raw_response_hook=lambda response: methods.append(response.http_request.method)
    )
    window = Window.at(time.time())
    assert store.increment(key="k", window=window) == 1
    methods.clear()

    assert [store.increment(key="k", window=window) for _ in range(3)] == [2, 3, 4]

    assert len(methods) == 3 and "GET" not in methods  # a write each, with no read before it
    store.close()


def test_a_count_after_another_instance_counted_reads_it_and_loses_none(
    azurite: Azurite,
) -> None:
    name = table_name()
    table, first = counter_store(azurite, name)
    _, second = counter_store(azurite, name)
    window = Window.at(time.time())

    counts = [store.increment(key="k", window=window) for store in (first, second, first, first)]

    assert counts == [1, 2, 3, 4]
    assert table.get_entity(partition_key("k", window), row_key(window))["count"] == 4
    first.close()
    second.close()


def test_a_counter_deleted_under_a_process_starts_again_from_one(azurite: Azurite) -> None:
    table, store = counter_store(azurite)
    window = Window.at(time.time())
    store.increment(key="k", window=window)
    table.delete_entity(partition_key("k", window), row_key(window))

    assert store.increment(key="k", window=window) == 1  # not an outage: the API stays up
    store.close()


def test_old_days_are_purged_and_today_is_kept(azurite: Azurite) -> None:
    table, store = counter_store(azurite)
    today = Window.at(time.time())
    old = Window(start=today.start - 3 * 86_400)
    for key in ("a", "b"):
        store.increment(key=key, window=old)
        store.increment(key=key, window=today)
    assert store.purge_before(date.fromtimestamp(today.start) - timedelta(days=1)) == 2
    left = {entity["PartitionKey"] for entity in table.list_entities()}
    assert left == {partition_key("a", today), partition_key("b", today)}
    store.close()


def test_an_unreachable_table_is_an_outage_to_the_store() -> None:
    down = AzuriteTable(port=free_port(), location=Path("/nonexistent"))
    table = TableClient.from_connection_string(down.connection_string, table_name="ratelimits")
    with pytest.raises(CounterStoreUnavailable):
        TableCounterStore(table=table).increment(key="k", window=Window.at(time.time()))


class black_hole:
    """A port that accepts connections and never answers."""

    def __enter__(self) -> int:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        return int(self._server.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._server.close()


@contextlib.contextmanager
def api_process(settings: Settings, log: Path) -> Iterator[str]:
    """The API under uvicorn in a process of its own, as the local farm and Azure run it."""
    port = free_port()
    env = {
        f"{ENV_PREFIX}{name.upper()}": str(value)
        for name, value in settings.model_dump(exclude_none=True).items()
    }
    spec = api_spec(port=port, env=env)
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(spec.argv), env=dict(spec.env), cwd=spec.cwd, stdout=output, stderr=output
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while http_json(f"{url}/api/health") is None:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the API did not answer"
                time.sleep(0.2)
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_two_api_processes_give_a_key_its_limit_once(
    azurite: Azurite, servicebus: ServiceBusEmulator, tmp_path: Path
) -> None:
    settings = shared_settings(
        azurite, servicebus, azurite.table_connection_string, rate_limit_per_minute=5
    )
    with (
        api_process(settings, tmp_path / "first.log") as first,
        api_process(settings, tmp_path / "second.log") as second,
    ):
        fresh_window()
        answers = [
            httpx.get(f"{url}/api/jobs", headers=auth(), timeout=10)
            for _ in range(4)
            for url in (first, second)
        ]
    assert [answer.status_code for answer in answers] == [200] * 5 + [429] * 3
