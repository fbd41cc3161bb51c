"""Submit a scene and watch it render: progress bar, frames on disk, previews, summary."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from renderfarm_client.cli.farm_previews import fetch_previews
from renderfarm_client.cli.preview import Preview
from renderfarm_client.farm_api import (
    FarmClient,
    FarmError,
    FilesSent,
    JobProgress,
    SubmittedJob,
)
from renderfarm_client.job_follower import FrameDownloader, describe_failure, follow_job
from renderfarm_client.project import ProjectError, TracedProject, trace_project
from renderfarm_client.render_request import RenderOptions
from renderfarm_client.summary import RenderSummary, summarize


class FrameRateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text(f"{speed:.2f} frames/s" if speed else "-- frames/s", style="cyan")


@dataclass(frozen=True, kw_only=True)
class RenderOutcome:
    job: SubmittedJob
    progress: JobProgress
    out_dir: Path
    frames: list[Path]
    preview: Preview | None
    summary: RenderSummary
    #: "the farm", or "this machine" for a farm that builds no previews.
    previews_by: str = "the farm"


def submit_scene(  # noqa: PLR0913 - keyword-only: the submit command's options
    client: FarmClient,
    scene: Path,
    options: RenderOptions,
    console: Console,
    *,
    project_root: Path | None = None,
    allow_missing: bool = False,
) -> SubmittedJob:
    """Trace ``scene`` and everything it needs, upload what the farm lacks, submit the job.
    Files the scene uses that are not on this machine stop it before anything is sent, unless
    ``allow_missing``."""
    with trace_project(scene, project_root=project_root) as project:
        if project.missing and not allow_missing:
            raise ProjectError(missing_files_message(project))
        for file in project.missing:
            console.print(f"[yellow]missing[/]: {file.path} ({file.original})", soft_wrap=True)
        send_project(client, project, console)
        job = client.submit(
            options.job_body(
                files=project.file_set(allow_missing=allow_missing), allow_missing=allow_missing
            )
        )
    if job.name is not None:
        console.print(Text(f"{job.name}" + (f" ({', '.join(job.tags)})" if job.tags else "")))
    console.print(
        f"job [bold]{job.job_id}[/]: {job.frames_total} frames in {job.chunk_count} chunks "
        f"of {job.chunk_size}"
        + (f", on Blender {job.blender}" if job.blender else "")
        + (f" (scene saved by {job.scene_saved_by})" if job.scene_saved_by else "")
    )
    if job.chunking_reason:
        console.print(f"chunks: {job.chunking_reason}", soft_wrap=True)
    return job


def missing_files_message(project: TracedProject) -> str:
    """One line naming every file the scene uses that is not on this machine."""
    named = ", ".join(f"{file.path} ({file.original})" for file in project.missing)
    count = len(project.missing)
    return (
        f"{count} file{'s' if count != 1 else ''} the scene uses "
        f"{'are' if count != 1 else 'is'} not on this machine: {named}; "
        "nothing was submitted (--allow-missing renders without them)"
    )


def send_project(client: FarmClient, project: TracedProject, console: Console) -> FilesSent:
    """Upload what the farm lacks with one progress bar over all the bytes."""
    columns = (
        TextColumn("[bold]uploading"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("upload", total=None, visible=False)

        def planned(plan: FilesSent) -> None:
            console.print(
                f"{plan.files} file{'s' if plan.files != 1 else ''}, {plan.new} new "
                f"({plan.new_bytes / 1e6:.1f} MB), "
                f"{plan.present} already on the farm"
            )
            bar.update(task, total=plan.new_bytes, visible=plan.new > 0)

        sent = client.ensure_files(
            project.files,
            on_plan=planned,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    return sent


def watch_and_download(
    client: FarmClient, job: SubmittedJob, out_dir: Path, console: Console, started: float
) -> RenderOutcome:
    """Follow the job with a progress bar, downloading frames as they land; raise FarmError
    with the reason when it fails or is cancelled."""
    downloader = FrameDownloader(client, out_dir)
    columns = (
        TextColumn("[bold]rendering"),
        BarColumn(),
        MofNCompleteColumn(),
        FrameRateColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[state]}"),
        TextColumn("[red]{task.fields[failed]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("frames", total=job.frames_total, state="queued", failed="")

        def update(progress: JobProgress) -> None:
            failed = len(progress.failed_chunks)
            bar.update(
                task,
                completed=progress.frames_done,
                state=progress.state,
                failed=f"{failed} failed chunks" if failed else "",
            )

        progress = follow_job(client, job.job_id, downloader=downloader, on_update=update)
    wall_s = time.monotonic() - started
    if progress.state != "completed":
        raise FarmError(describe_failure(progress))
    frames = [downloader.files[frame] for frame in sorted(downloader.files)]
    # The farm builds previews after the job completes: this waits for them a bounded time.
    previews = fetch_previews(client, progress, frames, out_dir)
    # Read again since: the last chunk records its worker seconds as it settles.
    latest = previews.progress
    return RenderOutcome(
        job=job,
        progress=progress,
        out_dir=out_dir,
        frames=frames,
        preview=previews.preview,
        summary=summarize(
            frames=len(frames),
            wall_s=wall_s,
            chunks=latest.chunks,
            cost=latest.cost or progress.cost,
        ),
        previews_by=previews.made_by,
    )


def report(outcome: RenderOutcome, console: Console) -> None:
    console.print(f"[green]done[/]: {len(outcome.frames)} frames in {outcome.out_dir / 'frames'}")
    if outcome.preview is not None:
        sheet, made_by = outcome.preview.contact_sheet, outcome.previews_by
        console.print(f"contact sheet  {sheet} (by {made_by})", soft_wrap=True)
        console.print(f"preview        {outcome.preview.animation}", soft_wrap=True)
    rendered_by = ", ".join(outcome.progress.rendered_by) or "unknown"
    console.print(f"blender      {rendered_by} rendered the frames", soft_wrap=True)
    for line in outcome.summary.lines():
        console.print(line, soft_wrap=True)
    print_warnings(outcome.progress, console)


def print_warnings(progress: JobProgress, console: Console) -> None:
    if progress.held == "budget":
        console.print(
            "[yellow]held: budget[/]: a spent monthly budget holds the job's chunks until the "
            "farm's operator raises it or the month turns over",
            soft_wrap=True,
            markup=True,
        )
    for warning in progress.warnings:
        console.print(f"[yellow]warning[/]: {warning}", soft_wrap=True, markup=True)
