"""A scout chunk settled done: once every scout chunk of its job is, the job is quoted.

Called by whoever settles a scout chunk (renderfarm.jobs.lifecycle.JobLifecycle), that is its
worker. The settler lists the job's chunk records (at this point the scout chunks' and few
more: the rest is not sent) and, when every scout record says done, prices the job
(renderfarm.jobs.quote_estimate) and writes the quote into the manifest over its etag. Each
settler writes its own record done before it lists, so of the settlers of the last two scout
chunks at least one sees both done; if both do, the etag lets one write and the other finds the
quote there (renderfarm.shared.conditional_update).

What follows the quote runs for whoever finds the job quoted and not over, writer or not, so
a crash between the write and these steps is finished by the next settle of a scout chunk (the
crashed worker's message comes back): an entry in the awaiting list the expiry timer reads,
unless the quote approved itself (under approve_below_usd), then the ``job.quoted`` event (its
id keeps it one). The events consumer, on ``job.quoted``, sends the rest of a job approved so
(renderfarm.jobs.approval.RestOfJob): it runs where chunks are sent from, in the Function App,
whose identity may send to the chunk queues; a worker's may only take from them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from renderfarm.chunks.plan import FarmCapacity
from renderfarm.jobs.awaiting import AwaitingApprovals, AwaitingJob
from renderfarm.jobs.cost import PriceTable, current_prices
from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.manifest_updates import update_manifest
from renderfarm.jobs.ports import ChunkRecords, EventPublisher, ManifestStore
from renderfarm.jobs.quote_estimate import measure_scouts, quote_job
from renderfarm.jobs.scouting import is_approved, quoted

log = logging.getLogger(__name__)

#: Conditional writes of the manifest before a settle gives up (its message comes back later).
WRITE_ATTEMPTS = 32
#: An unapproved quote expires after this long, unless the settings say otherwise.
DEFAULT_EXPIRY = timedelta(hours=24)


@dataclass(frozen=True, kw_only=True)
class QuotePolicy:
    """What a quote is made against: the job's pool's replicas, the prices, its lifetime."""

    capacity: FarmCapacity
    expiry: timedelta = DEFAULT_EXPIRY
    prices: Callable[[], PriceTable] = current_prices


class ScoutSettlement:
    def __init__(  # noqa: PLR0913 - keyword-only: each a port or setting the use case needs
        self,
        *,
        manifests: ManifestStore,
        chunks: ChunkRecords,
        events: EventPublisher,
        awaiting: AwaitingApprovals,
        policy: QuotePolicy,
        clock: Callable[[], datetime],
    ):
        self._manifests = manifests
        self._chunks = chunks
        self._events = events
        self._awaiting = awaiting
        self._policy = policy
        self._clock = clock

    def scout_done(self, manifest: JobManifest) -> None:
        """Quote the job if this was its last scout chunk (see the module's docstring)."""
        if manifest.quote is None:
            measure = measure_scouts(manifest, self._chunks.chunk_summaries(manifest.job_id))
            if measure is None:
                return  # another scout chunk is still rendering: its settler goes on
            now = self._clock()
            quote = quote_job(
                manifest,
                measure,
                capacity=self._policy.capacity,
                prices=self._policy.prices(),
                now=now,
                expiry=self._policy.expiry,
            )
            below = manifest.spec.approve_below_usd
            auto = below is not None and quote.estimated_usd < below
            updated = update_manifest(
                self._manifests,
                manifest.job_id,
                lambda m: quoted(m, quote, auto_approve=auto),
                attempts=WRITE_ATTEMPTS,
            )
            if updated.value is None:
                return  # the job is gone
            manifest = updated.value
            if updated.wrote:
                log.info(
                    "job %s quoted: %.4f USD%s",
                    manifest.job_id,
                    quote.estimated_usd,
                    ", approved (under approve_below_usd)" if auto else "",
                    extra={"job_id": manifest.job_id},
                )
        self._follow_up(manifest)

    def _follow_up(self, manifest: JobManifest) -> None:
        record = manifest.quote
        if record is None or manifest.outcome is not None:
            return
        if not is_approved(manifest):
            self._awaiting.add(
                AwaitingJob(
                    job_id=manifest.job_id,
                    tenant=manifest.tenant,
                    expires_at=record.quote.expires_at,
                )
            )
        self._events.publish(
            [
                JobEvent(
                    type=EventType.JOB_QUOTED,
                    job_id=manifest.job_id,
                    tenant=manifest.tenant,
                    at=record.quote.quoted_at,
                )
            ]
        )
