"""A submission from the add-on: the UI path returns at once and reports on the status line, only
the files the farm lacks are sent, a copy of unsaved changes goes under the file's name, missing
files are refused or sent as missing, and the jobs list brings the watched job's warnings."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.http_stub import Reply
from tests.local.addon_runner.stand_in_farm import (
    JOB,
    MISSING,
    PACKAGE,
    Farm,
    Ui,
    digests,
    inline_runner,
    submission,
    ui_runner,
)
from tests.projects import Project


def test_submit_in_the_ui_returns_at_once_and_reports_the_job_on_the_status_line(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    farm = farm_factory(Farm(hold_jobs=threading.Event()))
    before = digests(project.root)
    ui = Ui()
    done: list[Any] = []
    work = submission(runner, farm, project)
    started = time.monotonic()
    ui_runner(runner, ui).submit(work, report=ui.lines.append, on_done=done.append)
    # The main thread is free at once; the farm is still holding the job's answer.
    assert time.monotonic() - started < 0.5
    assert len(ui.timers) == 1 and not work.done and not done
    assert ui.timers[0]() == runner.POLL_S  # still running: call again after POLL_S
    deadline = time.monotonic() + 10
    while ("POST", "/api/jobs") not in farm.seen():
        assert time.monotonic() < deadline
        ui.tick()
        time.sleep(0.02)
    assert ui.tick() and not done
    assert ui.lines[-1] == "Submitting the job ..."
    assert farm.hold_jobs is not None
    farm.hold_jobs.set()
    ui.run_until_idle()
    assert done == [work] and work.job.job_id == JOB
    assert ui.lines[-1] == f"Job {JOB}: 2 frames in 1 chunks"
    assert len(ui.lines) == len(set(ui.lines)), "each line is reported once"
    # Asked once, every file uploaded once, then one job naming each file by its project path.
    seen = farm.seen()
    assert seen[0] == ("POST", MISSING) and seen[-1] == ("POST", "/api/jobs")
    files = farm.job_body()["files"]
    assert files["main"] == "shot.blend" and files["missing"] == []
    assert farm.job_body()["allow_missing"] is False
    paths = {entry["path"] for entry in files["files"]}
    assert {"shot.blend", "lib/lib.blend", "lib/base.blend", "lib/tex/lib_tex.png"} <= paths
    assert "textures/wood.png" in paths and "fonts/DejaVuSansMono.woff2" in paths
    assert any(path.startswith("_outside/") for path in paths)
    assert sorted(farm.puts()) == sorted({entry["sha256"] for entry in files["files"]})
    assert digests(project.root) == before, "the artist's files are untouched, and kept"


def test_a_copy_of_unsaved_changes_is_sent_under_the_files_name_and_deleted(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    farm = farm_factory()
    copy = project.main.with_name(".shot.renderfarm-0123abcd.blend")
    shutil.copyfile(project.main, copy)
    lines: list[str] = []
    work = submission(runner, farm, project, blend=copy)
    inline_runner(runner).submit(work, report=lines.append)
    assert lines == [f"Job {JOB}: 2 frames in 1 chunks"]
    files = farm.job_body()["files"]
    assert files["main"] == "shot.blend"
    assert not any("renderfarm-" in entry["path"] for entry in files["files"])
    assert not copy.exists() and project.main.exists()


def test_files_the_farm_has_are_not_uploaded_again(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    first = farm_factory()
    inline_runner(runner).submit(submission(runner, first, project), report=lambda _: None)
    everything = set(first.puts())
    again = farm_factory(Farm(have=everything))
    work = submission(runner, again, project)
    inline_runner(runner).submit(work, report=lambda _: None)
    assert work.job is not None and again.puts() == []
    assert again.seen() == [("POST", MISSING), ("POST", "/api/jobs")]


def test_submit_in_the_ui_reports_a_refused_key_in_one_line(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    refused = Reply(status=401, body={"title": "Unauthorized"})
    farm = farm_factory(Farm(script={("POST", MISSING): [refused]}))
    ui, work = Ui(), submission(runner, farm, project)
    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle()
    assert work.job is None
    assert ui.lines[-1] == (
        f"The farm at {farm.url} refused the API key: check it in "
        "Edit → Preferences → Add-ons → Render Farm"
    )
    assert ("POST", "/api/jobs") not in farm.seen()


def test_a_missing_texture_is_refused_before_any_request_naming_the_file(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    project.textures["wood"].unlink()
    farm = farm_factory()
    ui, work = Ui(), submission(runner, farm, project)
    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle()
    assert work.job is None
    assert ui.lines[-1] == (
        "Missing files: textures/wood.png (tick Allow missing files to render without)"
    )
    assert farm.seen() == []
    assert project.main.exists(), "the artist's file is never deleted"


def test_with_allow_missing_the_job_names_the_missing_file_and_warns(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    project.textures["wood"].unlink()
    farm = farm_factory()
    lines: list[str] = []
    work = submission(runner, farm, project, allow_missing=True)
    inline_runner(runner).submit(work, report=lines.append)
    assert work.job is not None
    assert lines == [f"Job {JOB}: 2 frames in 1 chunks (1 missing files: see the job's warnings)"]
    assert work.warnings == ["missing file: textures/wood.png"]
    body = farm.job_body()
    assert body["allow_missing"] is True
    assert body["files"]["missing"] == ["textures/wood.png"]
    assert "textures/wood.png" not in {entry["path"] for entry in body["files"]["files"]}


def test_the_jobs_list_brings_the_farms_warnings_for_the_scenes_last_job(
    runner: Any, farm_factory: Callable[..., Farm]
) -> None:
    other = "2" * 32
    line = {"frames_total": 1, "frames_done": 1, "frames_failed": 0}
    listing = {
        "jobs": [
            {"job_id": JOB, "state": "completed", "created_at": "2030-01-01T00:00:00Z", **line},
            {"job_id": other, "state": "completed", "created_at": "2030-01-01T00:00:00Z", **line},
        ]
    }
    status = {
        "job_id": JOB,
        "state": "completed",
        "created_at": "2030-01-01T00:00:00Z",
        "error": None,
        "chunks": [],
        "frame_urls": [],
        "warnings": ["missing file: textures/wood.png"],
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
    jobs.refresh_jobs(settings, watch=JOB)
    ui.run_until_idle()
    assert [job.job_id for job in jobs.state.jobs] == [JOB, other]
    assert jobs.state.warnings == {JOB: ("missing file: textures/wood.png",)}
    assert ("GET", f"/api/jobs/{other}") not in farm.seen(), "only the watched job's status"
