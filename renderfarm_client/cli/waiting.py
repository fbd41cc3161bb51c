"""``renderfarm wait JOB``: block until a job ends, and say how it ended in the exit code, so a
script can chain on it (``renderfarm wait $JOB && ./composite.sh``; docs/cli.md "Waiting for a
job")."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from renderfarm_client.cli.job_refs import job_argument, resolve_job
from renderfarm_client.cli.json_output import json_option, print_json
from renderfarm_client.cli.options import Target, stderr, stdout
from renderfarm_client.farm_api import FarmClient, FarmError, FarmUnreachable, RetryLater
from renderfarm_client.job_follower import describe_failure
from renderfarm_client.job_views import JobProgress, job_progress

EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_CANCELLED = 2
EXIT_TIMED_OUT = 3
#: No answer: a bad argument, no such job, or a farm that could not be asked. Not click's 2 for
#: a usage error, nor 1 for any other error: here those mean cancelled and failed.
EXIT_UNKNOWN = 4
END_CODES = {"completed": EXIT_COMPLETED, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}

FIRST_POLL_S = 1.0
#: Polls slow down to this: one key has 120 requests a minute, and a wait may last hours.
MAX_POLL_S = 5.0


class WaitUsageError(click.UsageError):
    """A usage error of ``wait``: it exits EXIT_UNKNOWN, as click's 2 would read "cancelled"."""

    exit_code = EXIT_UNKNOWN

    @classmethod
    def of(cls, error: click.UsageError) -> WaitUsageError:
        return cls(error.format_message(), error.ctx)


class WaitCommand(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            raise WaitUsageError.of(error) from None


@click.command(cls=WaitCommand)
@job_argument
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="stop waiting after this long (exit 3) [default: until the job ends]",
)
@json_option
@click.pass_obj
def wait(target: Target, /, job: str, timeout: float | None, as_json: bool) -> int:
    """Wait for JOB to end (a full id or its first few digits); the exit code says how.

    \b
    Exit codes:
    0  the job completed
    1  the job failed
    2  the job was cancelled
    3  --timeout passed first
    4  no answer: a bad argument, no such job, or the farm could not be asked

    --json prints the job's status as `renderfarm status --json` does, once it ended (or timed
    out). While the farm restarts or sheds load the wait goes on.
    """
    try:
        with target.client() as client:
            body = wait_for_end(client, resolve_job(client, job), timeout_s=timeout)
    except click.UsageError as error:
        raise WaitUsageError.of(error) from None
    except FarmError as error:
        click.echo(f"error: {error}", err=True)
        return EXIT_UNKNOWN
    progress = job_progress(body, {})
    code = END_CODES.get(progress.state, EXIT_TIMED_OUT)
    if as_json:
        print_json(body)
    else:
        stdout.print(_outcome(progress, code, timeout), soft_wrap=True, markup=False)
    return code


def wait_for_end(  # noqa: PLR0913 - keyword-only: the timeout and the clock tests inject
    client: FarmClient,
    job_id: str,
    *,
    timeout_s: float | None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_state: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll the job until it ends or ``timeout_s`` passes; return its status as
    ``GET /api/jobs/{id}`` answers then. The first read's errors end the wait (no such job, no
    farm); later, a farm that does not answer or sheds load is asked again at the next poll."""
    deadline = None if timeout_s is None else clock() + timeout_s
    tell = on_state or _tell_state
    body, asked_s = client.poll_job(job_id)
    seen = None
    delay = FIRST_POLL_S
    while body["state"] not in END_CODES:
        if body["state"] != seen:
            seen = body["state"]
            tell(body)
        left = None if deadline is None else deadline - clock()
        if left is not None and left <= 0:
            break
        wait = max(delay, asked_s)  # no sooner than the farm's Retry-After asks
        sleep(wait if left is None else min(wait, left))
        delay = min(delay * 1.5, MAX_POLL_S)
        try:
            body, asked_s = client.poll_job(job_id)
        except (FarmUnreachable, RetryLater) as error:
            stderr.print(f"still waiting: {error}", soft_wrap=True, markup=False)
    # Read once more with the API's first page of frame URLs: what `status --json` prints.
    return client.job_json(job_id)


def _tell_state(body: dict[str, Any]) -> None:
    stderr.print(
        f"waiting for job {body['job_id']}: {body['state']}, "
        f"{body['frames_done']}/{body['frames_total']} frames",
        soft_wrap=True,
        markup=False,
    )


def _outcome(progress: JobProgress, code: int, timeout: float | None) -> str:
    if code == EXIT_COMPLETED:
        return (
            f"job {progress.job_id}: completed, {progress.frames_done}/{progress.frames_total}"
            " frames"
        )
    if code == EXIT_TIMED_OUT:
        after = f" after {timeout:g} s" if timeout is not None else ""
        return (
            f"job {progress.job_id}: still {progress.state}{after}, "
            f"{progress.frames_done}/{progress.frames_total} frames done (timed out)"
        )
    return describe_failure(progress)
