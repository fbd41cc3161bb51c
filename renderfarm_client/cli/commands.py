"""The client's commands of ``renderfarm``: drive any farm over HTTP (submit, status, jobs,
cancel, download; ``retry``, ``wait`` and ``webhooks`` live in modules of their own). The command
itself, with the local farm's ``local`` and ``keys`` beside these, is composed in
``renderfarm_cli``; each command here reads its farm from the group's ``Target`` (``ctx.obj``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from renderfarm_client.cli import quotes
from renderfarm_client.cli.farm_previews import fetch_previews
from renderfarm_client.cli.job_refs import job_argument, resolve_job
from renderfarm_client.cli.job_table import jobs_table, label_lines
from renderfarm_client.cli.json_output import json_option, print_json
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
from renderfarm_client.cli.retry import retry
from renderfarm_client.cli.usage import usage
from renderfarm_client.cli.waiting import wait as wait_command
from renderfarm_client.cli.webhooks import webhooks
from renderfarm_client.job_follower import FrameDownloader, describe_failure
from renderfarm_client.job_views import job_line


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
@json_option
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
    as_json: bool,
    yes: bool,
    **kwargs: Any,
) -> int | None:
    """Trace SCENE and every file it needs, upload those the farm lacks, render FRAMES.

    --json prints the API's answer to the submission; with --wait, the job's status once it
    completed (as `renderfarm status --json` does).
    """
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
        shown = stderr if as_json else stdout  # --json: stdout holds the JSON alone
        if scouted and not quotes.settle_quote(client, job.job_id, shown, yes=yes):
            return quotes.EXIT_AWAITING_APPROVAL
        if not wait:
            if as_json:
                print_json(job.answer)
                return None
            click.echo(job.job_id)
            stderr.print(f"follow it with: renderfarm status {job.job_id}")
            return None
        outcome = watch_and_download(client, job, out or Path("out") / job.job_id, stderr, started)
        if as_json:
            print_json(client.job_json(job.job_id))
            return None
    report(outcome, stdout)
    return None


@click.command()
@job_argument
@json_option
@click.pass_obj
def status(target: Target, /, job: str, as_json: bool) -> None:
    """Show JOB's state, frames and chunks (its full id, or enough of its start to name one).

    --json prints `GET /api/jobs/{id}` as the API answers it: its first page of frame URLs.
    """
    with target.client() as client:
        job_id = resolve_job(client, job)
        if as_json:
            print_json(client.job_json(job_id))
            return
        progress = client.status(job_id, with_frames=False)
    stdout.print(
        f"job {progress.job_id}: [bold]{progress.state}[/], {progress.frames_done}/"
        f"{progress.frames_total} frames done, {progress.frames_failed} failed"
    )
    for line in label_lines(progress):
        stdout.print(line)
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
@click.option("--name", default=None, help="only jobs whose name starts with this (any case)")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    help="only jobs with this tag (label or key=value); repeat: jobs with every one",
)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--cursor", default=None, help="the page after the one whose next_cursor this is")
@json_option
@click.pass_obj
def jobs(  # noqa: PLR0913, PLR0917 - a click command: one parameter per option
    target: Target,
    /,
    state: str | None,
    name: str | None,
    tags: tuple[str, ...],
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """List your jobs, newest first: each one's whole id, name and tags.

    --json prints `GET /api/jobs` as the API answers it; pass its next_cursor to --cursor for
    the next page.
    """
    with target.client() as client:
        page = client.job_list(
            limit=limit, cursor=cursor, state=state, name=name, tag=list(tags) or None
        )
    if as_json:
        print_json(page)
        return
    lines = [job_line(item) for item in page["jobs"]]
    narrowed = bool(state or name or tags)
    stdout.print(jobs_table(lines) if lines else ("no jobs match" if narrowed else "no jobs yet"))


@click.command()
@job_argument
@json_option
@click.pass_obj
def cancel(target: Target, /, job: str, as_json: bool) -> None:
    """Cancel JOB; workers stop at their next frame. --json prints the job's status after."""
    with target.client() as client:
        job_id = resolve_job(client, job)
        answer = client.cancel_json(job_id)
    if as_json:
        print_json(answer)
        return
    stdout.print(f"job {job_id}: {answer['state']}")


@click.command()
@job_argument
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.pass_obj
def download(target: Target, /, job: str, out: Path | None) -> None:
    """Download JOB's rendered frames (and previews once it is complete)."""
    with target.client() as client:
        job_id = resolve_job(client, job)
        out_dir = out or Path("out") / job_id
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
COMMANDS: tuple[click.Command, ...] = (
    submit,
    status,
    jobs,
    cancel,
    retry,
    download,
    quotes.approve,
    wait_command,
    webhooks,
    usage,
)
