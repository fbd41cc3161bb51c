"""The add-on and scouted jobs: its checkbox asks the farm to scout, and the jobs list brings the
quote of each job awaiting approval (the panel shows it beside an Approve button)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any

from tests.http_stub import Reply
from tests.local.addon_runner.stand_in_farm import (
    JOB,
    PACKAGE,
    Farm,
    Ui,
    inline_runner,
    submission,
    ui_runner,
)
from tests.projects import Project

QUOTE = {
    "decision": "pending",
    "scout_frames": [{"frame": 1, "seconds": 1.25}, {"frame": 2, "seconds": 1.5}],
    "seconds_per_frame": 1.375,
    "estimated_worker_seconds": 40.0,
    "estimated_usd": 0.0042,
    "estimated_finish_at": "2030-01-01T00:01:00+00:00",
    "max_replicas": 10,
    "prices_version": "azure-2026-11",
    "prices_as_of": "2026-11-28",
    "quoted_at": "2030-01-01T00:00:00+00:00",
    "expires_at": "2030-01-02T00:00:00+00:00",
    "approve_below_usd": None,
    "approved_at": None,
    "actual_usd": None,
    "actual_to_estimate": None,
}


def test_the_scout_checkbox_asks_the_farm_to_scout(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    farm = farm_factory()
    work = submission(runner, farm, project)
    work.options = dataclasses.replace(work.options, scout=True)
    inline_runner(runner).submit(work, report=lambda _: None)
    assert work.error is None, work.error
    assert farm.job_body()["scout"] is True


def test_the_jobs_list_brings_the_quote_of_a_job_awaiting_approval(
    runner: Any, farm_factory: Callable[..., Farm]
) -> None:
    done = "2" * 32
    line = {"frames_total": 2, "frames_done": 2, "frames_failed": 0}
    when = {"created_at": "2030-01-01T00:00:00Z"}
    listing = {
        "jobs": [
            {"job_id": JOB, "state": "awaiting_approval", **when, **line},
            {"job_id": done, "state": "completed", **when, **line},
        ]
    }
    status: dict[str, Any] = {
        "job_id": JOB,
        "state": "awaiting_approval",
        "error": None,
        "chunks": [],
        "frame_urls": [],
        "quote": QUOTE,
        **when,
        **line,
    }
    farm = farm_factory(
        Farm(
            script={
                ("GET", "/api/jobs"): [Reply(body=listing)],
                ("GET", f"/api/jobs/{JOB}"): [Reply(body=status)],
            }
        )
    )
    settings = sys.modules[f"{PACKAGE}.client"].FarmSettings(api_url=farm.url, api_key="k")
    ui = Ui()
    jobs = ui_runner(runner, ui)
    jobs.refresh_jobs(settings)
    ui.run_until_idle()
    assert list(jobs.state.quotes) == [JOB]
    lines = jobs.state.quotes[JOB]
    assert any("$0.0042" in text for text in lines), lines
    assert lines[-1].endswith("pending")
    assert ("GET", f"/api/jobs/{done}") not in farm.seen(), "only the awaiting job's status"
