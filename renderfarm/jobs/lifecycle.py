"""A job's start and end, recorded where its work happens: the first frame sets ``started_at``;
each settled chunk goes into the job's ledger of settled chunks and, after the last, the
manifest's outcome is written (once, etag-conditionally); each comes with the event that says so.

Called by whoever settles a chunk (renderfarm.jobs.chunk_settlement.settle_chunk): the worker (done,
poison-failed, cancelled) and the dead-letter handler (failed). The ledger is a tree of markers
(renderfarm.jobs.end): no marker is written by every settler, and no settler loses an etag race,
however many settle at once.

The order makes every step safe to repeat: a crash anywhere leaves the chunk's message
unsettled, its redelivery settles the chunk again, and each step finds its work done or does it
(a settler that finds a node's marker already written still goes on up: the one that wrote it
may have died before its parent). Two settlers of a job's last two chunks both see a full ledger;
the manifest's etag lets one record the end, and both send the event, whose deterministic id
makes Service Bus keep one.

A retried job (renderfarm.jobs.retry_round) settles each round in a tree of its own, and records
each round's end once: a settler of an earlier round (a late dead letter, a worker still stopping
after a cancel) writes only into its round's tree, and finds the manifest in a later round, where
it writes nothing and says nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from renderfarm.chunks.plan import measured_timings, settings_key
from renderfarm.chunks.record import ChunkState
from renderfarm.jobs.end import LEDGER_TREE, JobOutcome, LedgerTree, code_of, combined, outcome_of
from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.manifest_updates import update_manifest
from renderfarm.jobs.ports import (
    ChunkRecords,
    EventPublisher,
    JobCosts,
    JobLedgerStore,
    ManifestStore,
    SceneTimingsStore,
    TenantIndex,
)
from renderfarm.jobs.scout_settlement import ScoutSettlement
from renderfarm.jobs.scouting import frames_rendered_by_chunk, is_scout_chunk
from renderfarm.shared.conditional_update import KeptChanging
from renderfarm.shared.errors import JobNotFound

log = logging.getLogger(__name__)

#: Conditional writes of a manifest or a ledger marker before a settle gives up (and its message
#: comes back later): a job's last settlers race on its manifest.
WRITE_ATTEMPTS = 32

END_EVENTS = {
    JobOutcome.COMPLETED: EventType.JOB_COMPLETED,
    JobOutcome.FAILED: EventType.JOB_FAILED,
    JobOutcome.CANCELLED: EventType.JOB_CANCELLED,
}


class LedgerContention(KeptChanging):
    """The ledger changed under every attempt: settle the chunk again later."""


@dataclass(frozen=True, kw_only=True)
class LifecycleStores:
    """Where a job's start and end are kept."""

    manifests: ManifestStore
    ledger: JobLedgerStore
    index: TenantIndex  # the job's entry goes terminal at its end
    chunks: ChunkRecords  # their usage, measured, plans the scene's next jobs
    timings: SceneTimingsStore


class JobLifecycle:
    def __init__(
        self,
        *,
        store: LifecycleStores,
        events: EventPublisher,
        clock: Callable[[], datetime],
        scouts: ScoutSettlement | None = None,
        costs: JobCosts | None = None,
    ):
        self.store = store
        self._events = events
        self._clock = clock
        #: Quotes scouted jobs (None: a scout chunk's settle only logs; tests of the ledger).
        self._scouts = scouts
        #: Counts each job's own costs in its tenant's usage (None: no usage is kept).
        self._costs = costs

    def chunk_settled(self, manifest: JobManifest, index: int, state: ChunkState) -> str | None:
        """Note chunk ``index`` settled as ``state`` in the round of ``manifest`` (the one its
        settler holds); after the round's last chunk, record the job's end. Returns the job's
        outcome once it has one."""
        cancelled = manifest.cancelled_at is not None
        if is_scout_chunk(manifest, index):
            return self._scout_settled(manifest, state)
        if manifest.retry is not None:
            code = self._settle_in_round(manifest, index, state)
            outcome = None if code is None else outcome_of(code, cancelled=cancelled)
        elif manifest.ledger == LEDGER_TREE:
            tree = LedgerTree(len(manifest.chunks))
            code = self._settle_in_tree(manifest.job_id, tree, index, state)
            outcome = None if code is None else outcome_of(code, cancelled=cancelled)
        else:  # a job from before the tree: one ledger blob
            settled = self.store.ledger.add_settled(manifest, index, state)
            outcome = settled.outcome(cancelled=cancelled)
        if outcome is None:
            return None
        return self.record_end(manifest.job_id, outcome, retry_round=manifest.round)

    def _scout_settled(self, manifest: JobManifest, state: ChunkState) -> str | None:
        """A scout chunk is outside the ledger: done, it may quote the job; failed for good,
        the job fails (its rest was never sent); cancelled, the job was."""
        if state is not ChunkState.DONE:
            cancelled = manifest.cancelled_at is not None
            outcome = outcome_of(code_of(state), cancelled=cancelled)
            return self.record_end(manifest.job_id, outcome, retry_round=manifest.round)
        if self._scouts is None:
            log.warning("scout chunk of job %s settled with no one to quote it", manifest.job_id)
        else:
            self._scouts.scout_done(manifest)
        # A quoted job may never run its rest (cancelled, expired): its scouts spent, so the
        # job's own costs count now (once: the end counts them again to no effect).
        self._count_costs(manifest)
        return manifest.outcome

    def _settle_in_round(self, manifest: JobManifest, index: int, state: ChunkState) -> str | None:
        """The chunk's place in its retry round's own tree; the code of the whole job once the
        round's root is written (the round's chunks with the ones it carried)."""
        retry = manifest.retry
        assert retry is not None
        place = retry.position(index)
        if place is None:  # no message of this round names it: nothing of this round to note
            log.warning(
                "chunk %d is not in round %d of job %s", index, retry.number, manifest.job_id
            )
            return None
        tree = LedgerTree(len(retry.chunks), round=retry.number)
        code = self._settle_in_tree(manifest.job_id, tree, place, state)
        if code is None or retry.carried is None:
            return code
        return combined([code, retry.carried])

    def _settle_in_tree(
        self, job_id: str, tree: LedgerTree, leaf: int, state: ChunkState
    ) -> str | None:
        """Write the chunk's marker, then, while a node's children are all there, the node's
        (renderfarm.jobs.end); the code of every chunk together once the root is written."""
        ledger = self.store.ledger
        node, code = tree.leaf(leaf), code_of(state)
        ledger.put_marker(job_id, node, code)
        while not tree.is_root(node):
            node = tree.parent(node)
            codes = ledger.children_codes(job_id, node)
            if len(codes) < tree.child_count(node):
                return None  # a sibling is still rendering: its settler goes on from here
            code = combined(codes)
            ledger.ensure_marker(job_id, node, code)
        return code

    def record_start(self, job_id: str) -> None:
        """The job's first frame is in Blob: set ``started_at`` once and say so. Several
        chunks' first frames may race here; the etag lets one write, the event id keeps one."""
        updated = update_manifest(
            self.store.manifests,
            job_id,
            lambda m: m if m.started_at is not None else m.started(self._clock()),
            attempts=WRITE_ATTEMPTS,
        )
        manifest = updated.value
        if manifest is None or not updated.wrote:
            return  # no such job, or another settler said it started
        self._events.publish(
            [
                JobEvent(
                    type=EventType.JOB_STARTED,
                    job_id=job_id,
                    tenant=manifest.tenant,
                    at=manifest.started_at or self._clock(),
                )
            ]
        )

    def chunk_failed(self, manifest: JobManifest, index: int, error: str) -> None:
        """Say a chunk failed for good (dead-lettered): the worker and the dead-letter handler
        may both say it; the event id keeps one (per retry round)."""
        self._events.publish(
            [
                JobEvent(
                    type=EventType.CHUNK_FAILED,
                    job_id=manifest.job_id,
                    tenant=manifest.tenant,
                    at=self._clock(),
                    chunk_index=index,
                    detail={"error": error[:1000]},
                    round=manifest.round,
                )
            ]
        )

    def record_end(self, job_id: str, outcome: str, *, retry_round: int = 0) -> str:
        """Write the outcome of round ``retry_round`` into the manifest unless one is there,
        then say how the job ended (again, if a crash came between: the event's id keeps it
        one). A round the job has been retried past since records and says nothing: its end
        was recorded before the retry, which a retry needs."""
        updated = update_manifest(
            self.store.manifests,
            job_id,
            lambda m: (
                m
                if m.outcome is not None or m.round != retry_round
                else m.ended(outcome, self._clock())
            ),
            attempts=WRITE_ATTEMPTS,
        )
        manifest = updated.value
        if manifest is None:
            raise JobNotFound(job_id)
        if manifest.round != retry_round:
            log.info("job %s: round %d ended after a retry", job_id, retry_round)
            return outcome
        if updated.wrote:
            log.info("job %s %s", job_id, outcome, extra={"job_id": job_id})
            if manifest.outcome == JobOutcome.COMPLETED:
                self._remember_timings(manifest)
        self.store.index.mark_terminal(manifest)
        # Every settler that sees the end (not only the writer: a cancel wrote it in the API).
        self._count_costs(manifest)
        self._announce(manifest)
        return str(manifest.outcome)

    def _count_costs(self, manifest: JobManifest) -> None:
        if self._costs is not None:
            self._costs.job_ended(manifest)

    def _remember_timings(self, manifest: JobManifest) -> None:
        """What this job measured, for planning the chunks of the scene's next jobs
        (renderfarm.chunks.plan). Best effort: a failure costs only the measurement."""
        try:
            usage = self.store.chunks.chunk_summaries(manifest.job_id)
            frames = frames_rendered_by_chunk(manifest)
            measured = measured_timings(
                [(frames.get(index, 0), summary.usage) for index, summary in usage.items()]
            )
            if measured is not None:
                self.store.timings.record_scene_timings(
                    manifest.tenant,
                    manifest.spec.scene_sha256,
                    settings_key(manifest.spec.render),
                    measured,
                )
        except Exception:  # never let an optimisation fail a job's end
            log.warning("could not record the timings of job %s", manifest.job_id, exc_info=True)

    def _announce(self, manifest: JobManifest) -> None:
        assert manifest.outcome is not None
        self._events.publish(
            [
                JobEvent(
                    type=END_EVENTS[manifest.outcome],
                    job_id=manifest.job_id,
                    tenant=manifest.tenant,
                    at=manifest.finished_at or self._clock(),
                    round=manifest.round,
                )
            ]
        )
