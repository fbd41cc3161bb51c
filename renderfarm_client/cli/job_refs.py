"""JOB on the command line: a job's full id, or the start of one that names exactly one of the
key's jobs (``renderfarm status 3f2a``). Every command that takes a JOB resolves it here."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from renderfarm_client.farm_api import FarmClient

FULL_ID_LENGTH = 32
FULL_ID = re.compile(rf"[0-9a-f]{{{FULL_ID_LENGTH}}}")
_PREFIX = re.compile(rf"[0-9a-f]{{1,{FULL_ID_LENGTH - 1}}}")
#: Jobs per page while looking for a prefix (the API's most).
PAGE_SIZE = 100
#: An ambiguous prefix lists this many of its jobs; the search stops once it has found more.
MAX_CANDIDATES = 10

job_argument: Callable[[Callable[..., Any]], Callable[..., Any]] = click.argument(
    "job", metavar="JOB"
)


def resolve_job(client: FarmClient, ref: str) -> str:
    """The full id JOB names. A full id is taken as it is (the command's own call says whether
    the job exists); a prefix pages through the key's jobs, and one that names no job or
    several is a usage error (exit 2) that lists them."""
    text = ref.strip().lower()
    if FULL_ID.fullmatch(text):
        return text
    if not _PREFIX.fullmatch(text):
        raise click.BadParameter(
            f"{ref!r} is not a job id: 32 hex digits, or the first few of them",
            param_hint="JOB",
        )
    matches = jobs_starting_with(client, text)
    if not matches:
        raise click.BadParameter(f"no job of yours starts with {text}", param_hint="JOB")
    if len(matches) > 1:
        raise click.BadParameter(_ambiguous(text, matches), param_hint="JOB")
    return str(matches[0]["job_id"])


def jobs_starting_with(client: FarmClient, prefix: str) -> list[dict[str, Any]]:
    """The key's jobs whose id starts with ``prefix``, newest first, as ``GET /api/jobs`` lists
    them; at most MAX_CANDIDATES + 1 (enough to tell one from several)."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = client.job_list(limit=PAGE_SIZE, cursor=cursor)
        found.extend(job for job in page["jobs"] if str(job["job_id"]).startswith(prefix))
        cursor = page.get("next_cursor")
        if cursor is None or len(found) > MAX_CANDIDATES:
            return found[: MAX_CANDIDATES + 1]


def _ambiguous(prefix: str, matches: list[dict[str, Any]]) -> str:
    shown = matches[:MAX_CANDIDATES]
    lines = [
        f"{job['job_id']}  {job['state']:<9}  created "
        f"{datetime.fromisoformat(job['created_at']):%Y-%m-%d %H:%M:%S}"
        for job in shown
    ]
    more = ["  ... and more"] if len(matches) > MAX_CANDIDATES else []
    return "\n".join(
        [f"several jobs start with {prefix}; give more of the id:"]
        + [f"  {line}" for line in lines]
        + more
    )
