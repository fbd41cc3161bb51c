"""A busy farm (429/503) as the add-on meets it: retried with the wait on the status line, ended
in one line when it stays unavailable, and a cancel during the wait that stops at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.http_stub import Reply
from tests.local.addon_runner.stand_in_farm import (
    ANY_BLOB,
    JOB,
    JOB_REPLY,
    MISSING,
    Farm,
    Ui,
    submission,
    ui_runner,
)
from tests.projects import Project


@pytest.mark.parametrize("where", ["ticket", "upload"])
def test_a_cancel_while_a_retry_waits_stops_at_once(
    runner: Any, farm_factory: Callable[..., Farm], project: Project, where: str
) -> None:
    """The farm says to come back in 30 s (asking what it lacks), or storage keeps answering
    503 (uploads, backing off): a cancel does not wait out the backoff. (Uploads still queued
    when the cancel comes each open a connection before they stop, and a connection can take a
    1 s SYN retry on a busy loopback: hence the 2 s wait and the 1.5 s bound.)"""
    busy = Reply(status=429, body={"title": "Too many requests"}, headers={"Retry-After": "30"})
    script = (
        {("POST", MISSING): [busy]}
        if where == "ticket"
        else {("PUT", ANY_BLOB): [Reply(status=503)]}
    )
    farm = farm_factory(Farm(script=script))
    ui, work = Ui(), submission(runner, farm, project, retry_for_s=60)
    # The ticket's first wait is the 30 s the farm asked for; an upload's fifth is 2.0 s.
    waiting = "in 30.0 s" if where == "ticket" else "in 2.0 s"
    cancelled_at: list[float] = []

    def watch() -> None:
        if waiting in work.stage and not cancelled_at:
            work.cancelled.set()
            cancelled_at.append(time.monotonic())

    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle(timeout_s=15, every=watch)
    assert cancelled_at and time.monotonic() - cancelled_at[0] < 1.5
    assert ui.lines[-1] == "Cancelled: no job was created"
    assert any(waiting in line for line in ui.lines), ui.lines
    assert ("POST", "/api/jobs") not in farm.seen()


def test_a_busy_farm_is_retried_and_the_status_line_says_when(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    busy = Reply(status=429, body={"title": "Too many requests"}, headers={"Retry-After": "1"})
    made = Reply(status=202, body=JOB_REPLY)
    farm = farm_factory(Farm(script={("POST", "/api/jobs"): [busy, made]}))
    ui, work = Ui(), submission(runner, farm, project)
    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle()
    assert "The farm answered 429 Too Many Requests: trying again in 1.0 s ..." in ui.lines
    assert ui.lines[-1] == f"Job {JOB}: 2 frames in 1 chunks"
    jobs = [seen for seen in farm.seen() if seen == ("POST", "/api/jobs")]
    assert len(jobs) == 2
    assert farm.stub is not None
    keys = {s.headers["idempotency-key"] for s in farm.stub.seen if s.path == "/api/jobs"}
    assert len(keys) == 1, "both tries are one submission"


def test_a_farm_that_stays_unavailable_ends_in_one_line_with_the_retry_time(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    unavailable = Reply(
        status=503,
        body={"title": "The farm is restarting"},
        headers={"Content-Type": "application/problem+json", "Retry-After": "1"},
    )
    farm = farm_factory(Farm(script={("POST", MISSING): [unavailable]}))
    ui, work = Ui(), submission(runner, farm, project, retry_for_s=1.5)
    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle()
    assert "The farm answered 503 Service Unavailable: trying again in 1.0 s ..." in ui.lines
    assert ui.lines[-1] == "The farm is restarting (retry in 1 s)"
    assert work.job is None and ("POST", "/api/jobs") not in farm.seen()
