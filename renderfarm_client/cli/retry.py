"""``renderfarm retry JOB``: render again only the failed chunks of an ended job."""

from __future__ import annotations

import click

from renderfarm_client.cli.options import Target, stdout
from renderfarm_client.farm_api import RetryAnswer

#: What each no-op answer means, in the words a person reads.
_UNCHANGED = {
    "already_retrying": "is already being retried: nothing changed",
    "completed": "completed: nothing to retry",
    "nothing_failed": (
        "has no failed chunk: nothing to retry (--include-cancelled renders the cancelled ones)"
    ),
}


def describe(answer: RetryAnswer) -> str:
    """One line saying what the retry did."""
    job = f"job {answer.job_id}"
    if not answer.retried:
        return f"{job} {_UNCHANGED.get(answer.outcome, answer.outcome)} ({answer.state})"
    chunks = len(answer.chunks)
    return (
        f"{job}: retry {answer.round} renders {chunks} chunk{'s' if chunks != 1 else ''} "
        f"({answer.frames} frames) again; frames already rendered are kept ({answer.state})"
    )


@click.command()
@click.argument("job_id")
@click.option(
    "--include-cancelled",
    is_flag=True,
    help="also render the chunks that the job's cancel stopped",
)
@click.pass_obj
def retry(target: Target, /, job_id: str, include_cancelled: bool) -> None:
    """Render again only the chunks of an ended job that failed."""
    with target.client() as client:
        answer = client.retry(job_id, include_cancelled=include_cancelled)
    stdout.print(describe(answer), soft_wrap=True)
    if answer.retried:
        stdout.print(f"follow it with: renderfarm status {job_id}", soft_wrap=True)
