"""``renderfarm logs``: a chunk attempt's Blender log, whole or followed while the chunk renders.

Without ``--chunk`` the command picks the chunk a person most likely wants: the first failed
chunk, else the first one rendering, else the one that started last. The log's text goes to
stdout as the farm keeps it (its last MiB); what it is (chunk, attempt, worker, times) to stderr,
so ``renderfarm logs JOB > chunk.log`` keeps Blender's lines only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import click

from renderfarm_client.cli.options import Target, stderr
from renderfarm_client.farm_api import ChunkLogPage, ChunkProgress, FarmClient, FarmError

#: How often ``--follow`` asks for new lines (an unchanged log costs the farm a 304).
FOLLOW_EVERY_S = 1.0
#: How long a followed log may stay unchanged before the command checks that its attempt is
#: still the latest (a worker that was killed never writes its attempt's end).
QUIET_CHECK_S = 30.0
#: How long a chunk that has started may have no log yet (its worker writes it a moment later).
FIRST_LOG_WAIT_S = 10.0


@click.command()
@click.argument("job_id")
@click.option(
    "--chunk",
    type=click.IntRange(0),
    default=None,
    help="the chunk's index [default: the first failed chunk, else the first rendering, "
    "else the last started]",
)
@click.option(
    "--attempt", type=click.IntRange(1), default=None, help="[default: the latest attempt]"
)
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="print new lines while the chunk renders; stop when the attempt ends",
)
@click.pass_obj
def logs(
    target: Target, /, job_id: str, chunk: int | None, attempt: int | None, follow: bool
) -> None:
    """Print the Blender log of one of a job's chunks."""
    with target.client() as client:
        if chunk is None:
            chunk = _pick_chunk(client, job_id, wait=follow)
        page, etag = _first_page(client, job_id, chunk, attempt, wait=follow)
        _describe(page)
        click.echo(page.text, nl=False)
        if follow:
            _follow(client, page, etag)


def pick_chunk(chunks: tuple[ChunkProgress, ...]) -> ChunkProgress | None:
    """The first failed chunk, else the first rendering, else the one that started last; None
    when none has started."""
    for state in ("failed", "rendering"):
        for chunk in chunks:
            if chunk.state == state:
                return chunk
    started = [chunk for chunk in chunks if chunk.attempts > 0 and chunk.started_at is not None]
    return max(started, key=lambda chunk: (chunk.started_at, chunk.index), default=None)


def _pick_chunk(client: FarmClient, job_id: str, *, wait: bool) -> int:
    while True:
        progress = client.status(job_id, with_frames=False)
        chosen = pick_chunk(progress.chunks)
        if chosen is not None:
            return chosen.index
        if not wait or progress.is_over:
            raise FarmError(f"no chunk of job {job_id} has started yet: there is no log to show")
        time.sleep(FOLLOW_EVERY_S)


def _first_page(
    client: FarmClient, job_id: str, chunk: int, attempt: int | None, *, wait: bool
) -> tuple[ChunkLogPage, str | None]:
    """The log; while following, a chunk that has not started is waited for."""
    deadline: float | None = None
    while True:
        try:
            page, etag = client.chunk_log(job_id, chunk, attempt=attempt)
        except FarmError:
            if not wait or (deadline is not None and time.monotonic() > deadline):
                raise
            started = _started(client, job_id, chunk)
            if started is None:  # the job has no such chunk: nothing to wait for
                raise
            if started and deadline is None:
                deadline = time.monotonic() + FIRST_LOG_WAIT_S
            time.sleep(FOLLOW_EVERY_S)
            continue
        assert page is not None, "asked without an ETag"
        return page, etag


def _started(client: FarmClient, job_id: str, chunk: int) -> bool | None:
    """Whether the chunk has started (or can no longer: its job is over), so that a log missing
    now is missing for good but for a moment; None when the job has no such chunk."""
    progress = client.status(job_id, with_frames=False)
    found = [c for c in progress.chunks if c.index == chunk]
    if not found:
        return None
    return found[0].attempts > 0 or progress.is_over


def _follow(
    client: FarmClient,
    page: ChunkLogPage,
    etag: str | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Print what the attempt adds to its log until it ends."""
    offset, quiet_since = page.next_offset, time.monotonic()
    while page.ended_at is None:
        sleep(FOLLOW_EVERY_S)
        fresh, etag = client.chunk_log(
            page.job_id, page.chunk_index, attempt=page.attempt, offset=offset, etag=etag
        )
        if fresh is None:
            if time.monotonic() - quiet_since >= QUIET_CHECK_S:
                if _superseded(client, page):
                    return
                quiet_since = time.monotonic()
            continue
        if fresh.offset > offset:
            stderr.print(f"[{fresh.offset - offset} bytes the farm no longer keeps]")
        click.echo(fresh.text, nl=False)
        page, offset, quiet_since = fresh, fresh.next_offset, time.monotonic()
    stderr.print(f"attempt {page.attempt} ended at {_when(page.ended_at)}")


def _superseded(client: FarmClient, page: ChunkLogPage) -> bool:
    """Whether a later attempt started (the followed one's worker went away without a word)."""
    latest, _ = client.chunk_log(page.job_id, page.chunk_index, offset=2**53)
    if latest is None or latest.attempt <= page.attempt:
        return False
    stderr.print(
        f"attempt {page.attempt} stopped without an end (its worker went away); attempt "
        f"{latest.attempt} follows: renderfarm logs {page.job_id} --chunk {page.chunk_index} "
        "--follow"
    )
    return True


def _describe(page: ChunkLogPage) -> None:
    others = ", ".join(str(attempt) for attempt in page.attempts)
    ended = f", ended {_when(page.ended_at)}" if page.ended_at else ", still running"
    stderr.print(
        f"job {page.job_id} chunk {page.chunk_index} attempt {page.attempt} "
        f"(attempts with a log: {others}), worker {page.worker_id}, "
        f"started {_when(page.started_at)}{ended}",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    if page.offset > 0:
        stderr.print(
            f"[the first {page.offset} bytes are no longer kept: the log keeps its last MiB]"
        )


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S %Z}".strip() if moment else "-"
