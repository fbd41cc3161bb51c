"""Usage written as chunks settle: what each chunk attempt spent, and each job's own costs once.

The cost model is linear (renderfarm.jobs.cost): a job's estimate is its attempts' costs added to
``job_usd``. So the running totals get one addition per attempt, at its end whatever the outcome
(done, failed, to be tried again, cancelled, superseded: each spent worker time), and one per job,
``<job>/job``, the first time its end is seen (a retry's round ends again: the same id adds
nothing). Summed, they are the jobs' ``cost.estimated_usd``.

Writing usage never fails a chunk: a store that does not answer is logged, and the addition is
kept (a few, in memory) to be tried once more with the next one; its id keeps it added once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from renderfarm.billing.ports import UsageTotals
from renderfarm.billing.usage import Attribution, Spend, UsageAddition
from renderfarm.chunks.usage import ChunkUsage
from renderfarm.jobs.cost import PriceTable, attempt_usd, current_prices, job_usd
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.scouting import scout_chunks

log = logging.getLogger(__name__)

#: Additions kept to try again after the store failed (the oldest are dropped past it: usage
#: may then read low, which is logged, and a chunk never waits on it).
MAX_PENDING = 64
#: Tries at one addition: the first, and one more with the next addition.
TRIES = 2


def owner_of(manifest: JobManifest) -> Attribution:
    """Whose spending a job's is: its tenant, name, tags and submitting key."""
    label = manifest.label
    return Attribution(
        tenant=manifest.tenant,
        name=label.name,
        tags=label.tags,
        submitted_by=label.submitted_by or "",
    )


def attempt_addition(  # noqa: PLR0913 - keyword-only: what one attempt tells
    manifest: JobManifest,
    *,
    chunk_index: int,
    attempt: str,
    usage: ChunkUsage,
    frames: int,
    writer: str,
    at: datetime,
    prices: PriceTable,
) -> UsageAddition:
    """What attempt ``attempt`` at chunk ``chunk_index`` adds: its worker seconds, the frames it
    uploaded, and their price."""
    return UsageAddition(
        id=f"{manifest.job_id}/{chunk_index}/{attempt}",
        owner=owner_of(manifest),
        at=at,
        spend=Spend(
            worker_s=usage.worker_s,
            frames=frames,
            usd=attempt_usd(usage, frames=frames, prices=prices),
        ),
        writer=writer,
    )


def job_addition(manifest: JobManifest, *, prices: PriceTable) -> UsageAddition:
    """The job's own costs (its sends, events and blobs), counted once for every chunk it
    has, scout chunks too, as its status's estimate counts them. Dated at its submit, so that
    every writer of it names the same month (where its applied marker is)."""
    chunks = len(manifest.chunks) + len(scout_chunks(manifest))
    return UsageAddition(
        id=f"{manifest.job_id}/job",
        owner=owner_of(manifest),
        at=manifest.created_at,
        spend=Spend(usd=job_usd(chunks=chunks, prices=prices)),
        writer=manifest.job_id,
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class UsageRecorder:
    """Adds to the running totals for the worker and whoever records a job's end.

    ``on_added`` is called after each addition that was applied (not one applied before): where
    budgets look at what spending crossed.
    """

    def __init__(
        self,
        totals: UsageTotals,
        *,
        prices: Callable[[], PriceTable] = current_prices,
        clock: Callable[[], datetime] = _utc_now,
        on_added: Callable[[UsageAddition], None] | None = None,
    ):
        self._totals = totals
        self._prices = prices
        self._clock = clock
        self._on_added = on_added
        self._pending: list[tuple[UsageAddition, int]] = []
        self._lock = threading.Lock()

    def attempt_ended(  # noqa: PLR0913 - keyword-only: what one attempt tells
        self,
        manifest: JobManifest,
        *,
        chunk_index: int,
        attempt: str,
        usage: ChunkUsage,
        frames: int,
        writer: str,
    ) -> None:
        """An attempt at a chunk ended, having spent ``usage`` and uploaded ``frames`` frames."""
        if usage.is_empty and frames == 0:
            return  # it wrote nothing: nothing of it is in the job's estimate either
        addition = attempt_addition(
            manifest,
            chunk_index=chunk_index,
            attempt=attempt,
            usage=usage,
            frames=frames,
            writer=writer,
            at=self._clock(),
            prices=self._prices(),
        )
        self.add(addition)

    def job_ended(self, manifest: JobManifest) -> None:
        """The job's end was recorded (again is fine: its addition is applied once)."""
        self.add(job_addition(manifest, prices=self._prices()))

    def add(self, addition: UsageAddition) -> None:
        """Add ``addition`` and any kept from before; never raises."""
        with self._lock:
            waiting, self._pending = self._pending, []
        for each, tried in [*waiting, (addition, 0)]:
            self._add_one(each, tried + 1)

    def _add_one(self, addition: UsageAddition, tries: int) -> None:
        try:
            applied = self._totals.add(addition)
        except Exception as error:  # usage never fails a chunk, whatever the store does
            again = tries < TRIES
            log.warning(
                "could not add usage %s (%s): %s",
                addition.id,
                "tried again later" if again else "given up",
                error,
            )
            if again:
                self._keep(addition, tries)
            return
        if applied and self._on_added is not None:
            try:
                self._on_added(addition)
            except Exception:
                log.warning("after adding usage %s", addition.id, exc_info=True)

    def _keep(self, addition: UsageAddition, tries: int) -> None:
        with self._lock:
            self._pending.append((addition, tries))
            dropped = self._pending[:-MAX_PENDING]
            self._pending = self._pending[-MAX_PENDING:]
        for lost, _ in dropped:
            log.warning("usage %s dropped: the store failed too long", lost.id)

    @property
    def pending(self) -> tuple[UsageAddition, ...]:
        """Additions to be tried again with the next one."""
        with self._lock:
            return tuple(addition for addition, _ in self._pending)
