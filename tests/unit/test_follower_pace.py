"""How often the CLI's job follower reads a job's status, against a scripted farm over the wire:
every second, or later where the farm's Retry-After asks (its status changes no faster), and
never stalled by a Retry-After that is no number of seconds or is far too long."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from renderfarm_client.farm_api import FarmClient
from renderfarm_client.farm_http import MAX_POLL_AFTER_S
from renderfarm_client.job_follower import POLL_INTERVAL_S, follow_job
from tests.http_stub import Reply, Seen, http_stub

JOB = "b" * 32


def status(state: str, retry_after: str | None = None) -> Reply:
    body: dict[str, Any] = {
        "job_id": JOB,
        "state": state,
        "frames_total": 2,
        "frames_done": 2 if state == "completed" else 0,
        "frames_failed": 0,
        "created_at": "2026-12-07T10:00:00+00:00",
        "chunks": [],
        "frame_urls": [],
        "frame_urls_next_offset": None,
    }
    return Reply(body=body, headers={} if retry_after is None else {"Retry-After": retry_after})


def follow(answers: list[Reply]) -> tuple[list[float], list[Seen]]:
    """The follower's sleeps against a farm that gives ``answers`` in turn."""
    script: Iterator[Reply] = iter(answers)
    slept: list[float] = []

    def answer(_: Seen) -> Reply:
        return next(script)

    with http_stub(answer) as stub:
        client = FarmClient(api_url=stub.url, api_key="rf_key", retry_for_s=0)
        progress = follow_job(
            client, JOB, downloader=None, on_update=lambda _: None, sleep=slept.append
        )
    assert progress.state == "completed"
    return slept, stub.seen


def test_the_follower_reads_no_sooner_than_the_farm_asks() -> None:
    slept, seen = follow([status("queued", "2"), status("rendering", "3"), status("completed")])
    assert slept == [2.0, 3.0]
    assert len(seen) == 3


def test_the_follower_keeps_its_own_pace_where_the_farm_asks_less_or_nothing() -> None:
    slept, _ = follow([status("rendering", "0"), status("rendering"), status("completed")])
    assert slept == [POLL_INTERVAL_S, POLL_INTERVAL_S]


@pytest.mark.parametrize("retry_after", ["Mon, 07 Dec 2026 10:00:00 GMT", "soon", "-5", "nan", ""])
def test_a_retry_after_that_is_no_number_of_seconds_is_ignored(retry_after: str) -> None:
    slept, _ = follow([status("rendering", retry_after), status("completed")])
    assert slept == [POLL_INTERVAL_S]


def test_a_retry_after_far_too_long_waits_no_more_than_the_bound() -> None:
    slept, _ = follow(
        [status("rendering", "86400"), status("rendering", "inf"), status("completed")]
    )
    assert slept == [MAX_POLL_AFTER_S, MAX_POLL_AFTER_S]
