"""Scout first, then decide: ``renderfarm submit --scout`` waits for the quote, prints it and asks
before it approves; ``renderfarm approve JOB`` approves a quote later."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console

from renderfarm_client.cli.options import Target, stdout
from renderfarm_client.farm_api import FarmClient, FarmError, JobProgress
from renderfarm_client.job_follower import describe_failure

#: The exit status of a submit whose quote was left for later: no terminal to ask on, no --yes.
EXIT_AWAITING_APPROVAL = 3
POLL_S = 1.0
#: States before the quote: deferred, or the scout frames rendering.
_BEFORE_QUOTE = {"scheduled", "scouting"}


def scout_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``submit``'s options for scouting."""
    options = [
        click.option(
            "--scout",
            is_flag=True,
            help="render the first, middle and last frames first, print a quote and ask",
        ),
        click.option(
            "--scout-frames",
            metavar="F1,F2,...",
            default=None,
            help="scout these frames (at most 8) instead of the first, middle and last",
        ),
        click.option(
            "--approve-below",
            "approve_below_usd",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            metavar="USD",
            help="scout, and approve without asking when the quote is under USD",
        ),
        click.option("--yes", is_flag=True, help="approve the quote without asking"),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def scout_choice(scout: bool, scout_frames: str | None) -> bool | tuple[int, ...]:
    """What ``RenderOptions.scout`` takes from ``--scout`` and ``--scout-frames``."""
    if scout_frames is None:
        return scout
    try:
        return tuple(int(part) for part in scout_frames.split(",") if part.strip())
    except ValueError as error:
        raise FarmError(f"--scout-frames {scout_frames!r} is not frames like 1,50,100") from error


def wait_for_quote(
    client: FarmClient, job_id: str, console: Console, *, poll_s: float = POLL_S
) -> JobProgress:
    """Poll until the scout frames are in (or the job is over)."""
    with console.status("rendering the scout frames ..."):
        while True:
            progress = client.status(job_id, with_frames=False)
            if progress.state not in _BEFORE_QUOTE:
                return progress
            time.sleep(poll_s)


def print_quote(progress: JobProgress, console: Console) -> None:
    if progress.quote is None:
        return
    console.print(f"[bold]quote[/] for job {progress.job_id}:")
    for line in progress.quote.lines(now=datetime.now(UTC)):
        console.print(f"  {line}", soft_wrap=True, highlight=False)


def settle_quote(client: FarmClient, job_id: str, console: Console, *, yes: bool) -> bool:
    """Wait for the quote, print it, and approve it if told to (``yes``) or if the person at the
    terminal says so. True when the rest of the job renders: approved here, or by the farm
    (under approve_below_usd). False when the quote is left waiting; FarmError when the job
    ended without one (a scout frame failed, or it was cancelled)."""
    progress = wait_for_quote(client, job_id, console)
    print_quote(progress, console)
    quote = progress.quote
    if quote is None or not quote.pending:
        return _decided(progress)
    if not yes and not _asked(console, job_id, quote.estimated_usd):
        return False
    client.approve(job_id)
    console.print(f"approved: the rest of job {job_id} renders")
    return True


def _decided(progress: JobProgress) -> bool:
    """A quote decided before anyone was asked: approved renders, anything else failed."""
    quote = progress.quote
    if quote is not None and quote.decision in {"approved", "auto-approved"}:
        return True
    if quote is None and not progress.is_over:
        return True  # past scouting without a quote: approved and rendering already
    if quote is None:
        raise FarmError(describe_failure(progress))
    raise FarmError(f"job {progress.job_id} is {progress.state}: its quote is {quote.decision}")


def _asked(console: Console, job_id: str, usd: float) -> bool:
    """Whether the person at the terminal approves; no terminal, no approval."""
    later = f"approve it with: renderfarm approve {job_id}  (or: renderfarm cancel {job_id})"
    if not sys.stdin.isatty():
        console.print(f"not approved: no terminal to ask on and no --yes; {later}")
        return False
    if not click.confirm(f"Approve job {job_id} for about ${usd:.4f}?", default=False):
        console.print(f"not approved; {later}")
        return False
    return True


@click.command()
@click.argument("job_id")
@click.pass_obj
def approve(target: Target, /, job_id: str) -> None:
    """Approve a scouted job's quote: the rest of it renders."""
    with target.client() as client:
        progress = client.approve(job_id)
    print_quote(progress, stdout)
    stdout.print(f"job {job_id}: {progress.state}")
