"""The add-on's uploads: progress that rises block by block, a cancel that stops a large upload
with no job, and a connection dropped mid-upload (sent again whole, or given up naming the file)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from tests.local.addon_runner.stand_in_farm import (
    JOB,
    MIB,
    Farm,
    Ui,
    inline_runner,
    sparse,
    submission,
    ui_runner,
)
from tests.projects import Project


def test_a_large_upload_shows_rising_progress_and_a_cancel_stops_it_with_no_job(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    """A 256 MiB texture over a slow link: the status line counts up the MiB; the cancel
    button (``cancelled.set()``, as the operator does) stops it within a block, and no job is
    made."""
    sparse(project.textures["wood"], 256 * MIB)
    farm = farm_factory(read_bytes_per_s=32 * MIB)
    ui, work = Ui(), submission(runner, farm, project)
    sent: list[int] = []
    cancelled_at: list[float] = []

    def watch() -> None:
        sent.append(work.sent)
        if work.sent >= 16 * MIB and not cancelled_at:
            work.cancelled.set()
            cancelled_at.append(time.monotonic())

    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle(timeout_s=30, every=watch)
    assert cancelled_at and time.monotonic() - cancelled_at[0] < 2.0
    assert sent == sorted(sent) and len(set(sent)) >= 3, sent
    uploading = [line for line in ui.lines if line.startswith("Uploading the project: ")]
    of_total = f" of {work.total / MIB:.0f} MiB"  # the texture and the project's other files
    assert len(uploading) >= 3 and all(line.endswith(of_total) for line in uploading)
    assert 256 * MIB < work.total < 257 * MIB and work.sent < work.total
    assert ui.lines[-1] == "Cancelled: no job was created"
    assert ("POST", "/api/jobs") not in farm.seen()
    assert project.main.exists()


def test_upload_progress_rises_block_by_block_to_the_projects_size(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    sparse(project.textures["wood"], 20 * MIB + 5)
    farm = farm_factory()
    work = submission(runner, farm, project)
    progress: list[tuple[int, int]] = []
    recorded = work._progress

    def heard(sent: int, total: int) -> None:
        progress.append((sent, total))
        recorded(sent, total)

    work._progress = heard
    inline_runner(runner).submit(work, report=lambda _: None)
    total = sum(entry["size"] for entry in farm.job_body()["files"]["files"])
    steps = [sent for sent, _ in progress]
    assert steps[0] == 0 and steps[-1] == total
    assert steps == sorted(steps) and len(set(steps)) >= 21  # one a MiB block, at least
    assert {seen_total for _, seen_total in progress} == {total}


def test_a_connection_dropped_mid_upload_is_sent_again_whole_then_one_job(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    big = sparse(project.textures["wood"], 6 * MIB)
    drops = [MIB]  # the big file's first PUT loses its connection after 1 MiB

    def cut(method: str, path: str) -> int | None:
        return drops.pop() if path == f"/blob/{big}" and drops else None

    farm = farm_factory(cut=cut)
    work = submission(runner, farm, project)
    lines: list[str] = []
    inline_runner(runner).submit(work, report=lines.append)
    assert work.job is not None and lines == [f"Job {JOB}: 2 frames in 1 chunks"]
    assert farm.stub is not None
    first, second = [seen for seen in farm.stub.seen if seen.path == f"/blob/{big}"]
    assert len(first.body) == MIB
    assert hashlib.sha256(second.body).hexdigest() == big
    assert farm.puts().count(big) == 2 and len(farm.puts()) == len(set(farm.puts())) + 1
    assert (
        farm.seen()[-1] == ("POST", "/api/jobs") and farm.seen().count(("POST", "/api/jobs")) == 1
    )
    assert len(work.retries) == 1
    assert work.retries[0].startswith("the upload was interrupted (")
    assert work.retries[0].endswith("): sending it again in 0.2 s")


def test_an_upload_that_keeps_dropping_creates_no_job_and_names_the_file(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    big = sparse(project.textures["wood"], 2 * MIB)

    def cut(method: str, path: str) -> int | None:
        return 4096 if path == f"/blob/{big}" else None

    farm = farm_factory(cut=cut)
    work = submission(runner, farm, project, retry_for_s=1.0)
    lines: list[str] = []
    inline_runner(runner).submit(work, report=lines.append)
    assert work.job is None and len(lines) == 1
    assert lines[0].startswith("Uploading wood.png failed: "), lines
    assert "\n" not in lines[0]
    assert farm.puts().count(big) >= 2 and farm.puts().count(big) == len(work.retries) + 1
    assert ("POST", "/api/jobs") not in farm.seen()
    assert project.main.exists()
