"""``renderfarm wait``'s loop against a scripted farm over the wire: it waits on while the farm
sheds load, polls less often as the wait grows, stops at its timeout, and ends with the read
``status --json`` would make. (Its exit codes against the API: tests/api/test_cli_commands.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from renderfarm_client.cli.waiting import FIRST_POLL_S, MAX_POLL_S, wait_for_end
from renderfarm_client.farm_api import FarmClient
from tests.http_stub import Reply, Seen, http_stub

JOB = "a" * 32
SHEDDING = Reply(status=503, body={"title": "Busy", "status": 503}, headers={"Retry-After": "0"})


def status(state: str) -> Reply:
    return Reply(body={"job_id": JOB, "state": state, "frames_total": 1, "frames_done": 0})


class FakeClock:
    """Time that passes only when the wait sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def waited(
    answers: list[Reply], timeout_s: float | None
) -> tuple[dict[str, Any], list[Seen], FakeClock]:
    """Run the wait against a farm that gives ``answers`` in turn (the last one from then on)."""
    script: Iterator[Reply] = iter(answers)
    last = answers[-1]

    def answer(_: Seen) -> Reply:
        return next(script, last)

    clock = FakeClock()
    with http_stub(answer) as stub:
        client = FarmClient(api_url=stub.url, api_key="rf_key", retry_for_s=0)
        body = wait_for_end(
            client,
            JOB,
            timeout_s=timeout_s,
            clock=clock,
            sleep=clock.sleep,
            on_state=lambda _: None,
        )
    return body, stub.seen, clock


def test_the_wait_goes_on_while_the_farm_sheds_load_and_polls_less_often() -> None:
    answers = [status("queued"), SHEDDING, SHEDDING] + [status("rendering")] * 6
    body, seen, clock = waited([*answers, status("completed")], timeout_s=None)
    assert body["state"] == "completed"
    assert len(seen) == len(answers) + 2  # every answer read, then completed, then the last read
    assert clock.slept[0] == FIRST_POLL_S
    assert clock.slept == sorted(clock.slept)
    assert max(clock.slept) == MAX_POLL_S


def test_the_wait_stops_at_its_timeout_and_reads_the_status_once_more() -> None:
    body, seen, clock = waited([status("queued")], timeout_s=4)
    assert body["state"] == "queued"
    assert sum(clock.slept) == 4
    # Polls ask for no frame URLs; the last read is the API's default page, as `status --json`.
    assert all(request.query == {"frames_limit": ["0"]} for request in seen[:-1])
    assert seen[-1].query == {}


def test_the_wait_reads_no_sooner_than_the_farm_asks() -> None:
    asks = Reply(
        body={"job_id": JOB, "state": "rendering", "frames_total": 1, "frames_done": 0},
        headers={"Retry-After": "4"},
    )
    _, _, clock = waited([asks, asks, status("completed")], timeout_s=None)
    assert clock.slept == [4.0, 4.0]  # not FIRST_POLL_S, then 1.5 s
