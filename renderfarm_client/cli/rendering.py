"""Submit a scene and watch it render: progress bar, frames on disk, previews, summary."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from renderfarm_client.cli.farm_previews import fetch_previews
from renderfarm_client.cli.preview import Preview
from renderfarm_client.farm_api import FarmClient, FarmError, JobProgress, SubmittedJob
from renderfarm_client.job_follower import FrameDownloader, describe_failure, follow_job
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


def submit_scene(
    client: FarmClient, scene: Path, options: RenderOptions, console: Console
) -> SubmittedJob:
    sha256, uploaded = client.ensure_scene(scene)
    console.print(
        f"scene {scene.name} ({sha256[:12]}): "
        + ("uploaded" if uploaded else "the farm has it already")
    )
    job = client.submit(options.job_body(sha256))
    console.print(
        f"job [bold]{job.job_id}[/]: {job.frames_total} frames in {job.chunk_count} chunks "
        f"of {job.chunk_size}"
        + (f", on Blender {job.blender}" if job.blender else "")
        + (f" (scene saved by {job.scene_saved_by})" if job.scene_saved_by else "")
    )
    if job.chunking_reason:
        console.print(f"chunks: {job.chunking_reason}", soft_wrap=True)
    return job


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
