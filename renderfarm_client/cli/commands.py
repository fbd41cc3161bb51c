"""The client's commands of ``renderfarm``: drive any farm over HTTP (submit, status, jobs,
cancel, download). The command itself, with the local farm's ``local`` and ``keys`` beside
these, is composed in ``renderfarm_cli``; each command here reads its farm from the group's
``Target`` (``ctx.obj``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from renderfarm_client.cli import quotes
from renderfarm_client.cli.farm_previews import fetch_previews
from renderfarm_client.cli.options import (
    Target,
    options_from,
    render_options,
    stderr,
    stdout,
)
from renderfarm_client.cli.rendering import (
    print_warnings,
    report,
    submit_scene,
    watch_and_download,
)
from renderfarm_client.job_follower import FrameDownloader, describe_failure


@click.command()
@render_options
@click.option(
    "--blender",
    "pin_blender",
    metavar="MAJOR.MINOR",
    default=None,
    help="render with this Blender [default: the farm's oldest not older than the scene's]",
)
@click.option(
    "--not-before",
    metavar="TIME",
    default=None,
    help="RFC 3339 time before which nothing renders, e.g. 2026-12-24T22:00:00Z",
)
@click.option(
    "--project-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="the folder project paths start at [default: the folder of SCENE]",
)
@click.option(
    "--allow-missing",
    is_flag=True,
    help="submit even when files the scene uses are missing; the job warns of each",
)
@click.option("--wait", is_flag=True, help="show progress and download frames as they land")
@quotes.scout_options
@click.pass_obj
def submit(  # noqa: PLR0913 - a click command: one parameter per option
    target: Target,
    /,
    scene: Path,
    wait: bool,
    out: Path | None,
    *,
    project_root: Path | None,
    allow_missing: bool,
    yes: bool,
    **kwargs: Any,
) -> int | None:
    """Trace SCENE and every file it needs, upload those the farm lacks, render FRAMES."""
    started = time.monotonic()
    with target.client() as client:
        options = options_from(**kwargs)
        job = submit_scene(
            client,
            scene,
            options,
            stderr,
            project_root=project_root,
            allow_missing=allow_missing,
        )
        scouted = options.scout or options.approve_below_usd is not None
        if scouted and not quotes.settle_quote(client, job.job_id, stdout, yes=yes):
            return quotes.EXIT_AWAITING_APPROVAL
        if not wait:
            click.echo(job.job_id)
            stderr.print(f"follow it with: renderfarm status {job.job_id}")
            return None
        outcome = watch_and_download(client, job, out or Path("out") / job.job_id, stderr, started)
    report(outcome, stdout)
    return None


@click.command()
@click.argument("job_id")
@click.pass_obj
def status(target: Target, /, job_id: str) -> None:
    """Show a job's state, frames and chunks."""
    with target.client() as client:
        progress = client.status(job_id, with_frames=False)
    stdout.print(
        f"job {progress.job_id}: [bold]{progress.state}[/], {progress.frames_done}/"
        f"{progress.frames_total} frames done, {progress.frames_failed} failed"
    )
    table = Table("chunk", "state", "frames", "attempts", "last error")
    for chunk in progress.chunks:
        table.add_row(
            str(chunk.index),
            chunk.state,
            f"{chunk.frames_done}/{chunk.frames_total}",
            str(chunk.attempts),
            (chunk.last_error or "").strip().splitlines()[-1:][0] if chunk.last_error else "",
        )
    stdout.print(table)
    if progress.files is not None:
        stdout.print(
            f"project {progress.files.main}: {progress.files.files} files, "
            f"{progress.files.bytes / 1e6:.1f} MB"
        )
    print_warnings(progress, stdout)
    quotes.print_quote(progress, stdout)
    if progress.state in {"failed", "cancelled"}:
        stdout.print(describe_failure(progress))


@click.command()
@click.option(
    "--state",
    type=click.Choice(
        [
            *("scheduled", "scouting", "awaiting_approval", "queued", "rendering"),
            *("completed", "failed", "cancelled"),
        ]
    ),
)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.pass_obj
def jobs(target: Target, /, state: str | None, limit: int) -> None:
    """List your jobs, newest first."""
    with target.client() as client:
        lines = client.jobs(limit=limit, state=state)
    table = Table("job", "state", "frames", "failed", "created")
    for line in lines:
        table.add_row(
            line.job_id,
            line.state,
            f"{line.frames_done}/{line.frames_total}",
            str(line.frames_failed),
            f"{line.created_at:%Y-%m-%d %H:%M:%S}",
        )
    stdout.print(table if lines else "no jobs yet")


@click.command()
@click.argument("job_id")
@click.pass_obj
def cancel(target: Target, /, job_id: str) -> None:
    """Cancel a job; workers stop at their next frame."""
    with target.client() as client:
        state = client.cancel(job_id)
    stdout.print(f"job {job_id}: {state}")


@click.command()
@click.argument("job_id")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.pass_obj
def download(target: Target, /, job_id: str, out: Path | None) -> None:
    """Download a job's rendered frames (and previews once it is complete)."""
    out_dir = out or Path("out") / job_id
    with target.client() as client:
        progress = client.status(job_id)
        downloader = FrameDownloader(client, out_dir)
        fetched = downloader.fetch_new(progress)
        files = [downloader.files[frame] for frame in sorted(downloader.files)]
        completed = progress.state == "completed" and bool(files)
        previews = fetch_previews(client, progress, files, out_dir) if completed else None
    stdout.print(f"{len(fetched)} frames downloaded, {len(files)} in {downloader.frames_dir}")
    if previews is not None:
        if previews.preview is not None:
            sheet, video = previews.preview.contact_sheet, previews.preview.animation
            made_by = previews.made_by
            stdout.print(f"contact sheet {sheet}, preview {video} (by {made_by})", soft_wrap=True)
    elif not progress.is_over:
        stdout.print(f"job {job_id} is {progress.state}: run this again for the rest")


#: What ``renderfarm`` registers of the client.
COMMANDS: tuple[click.Command, ...] = (submit, status, jobs, cancel, download, quotes.approve)
