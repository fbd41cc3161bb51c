"""A job's start and end, recorded where its work happens: the first frame sets ``started_at``;
each settled chunk goes into the ledger of settled chunks and, after the last, the manifest's
outcome is written (once, etag-conditionally); each comes with the event that says so.

Called by whoever settles a chunk: the worker (done, poison-failed, cancelled) and the
dead-letter handler (failed). The ledger is a tree of marker blobs (renderfarm.job_end): no blob
is written by every settler, and no settler loses an etag race, however many settle at once.

The order makes every step safe to repeat: a crash anywhere leaves the chunk's message
unsettled, its redelivery settles the chunk again, and each step finds its work done or does it
(a settler that finds a node's marker already written still goes on up: the one that wrote it
may have died before its parent). Two settlers of a job's last two chunks both see a full ledger;
the manifest's etag lets one record the end, and both send the event, whose deterministic id
makes Service Bus keep one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from azure.core.exceptions import ResourceExistsError
from azure.servicebus import ServiceBusClient
from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient, ContentSettings

from renderfarm import blob_layout as layout
from renderfarm.chunk_plan import measured_timings, settings_key
from renderfarm.chunk_record import ChunkState
from renderfarm.conditional_update import KeptChanging, update_conditionally
from renderfarm.errors import JobNotFound
from renderfarm.events import EventType, JobEvent
from renderfarm.job_end import (
    FANOUT,
    LEDGER_TREE,
    JobOutcome,
    LedgerTree,
    Node,
    SettledChunks,
    code_of,
    combined,
    outcome_of,
)
from renderfarm.manifest import JobManifest
from renderfarm.manifest_updates import update_manifest
from renderfarm.ports import EventPublisher
from renderfarm.settings import Settings
from renderfarm_azure.conditional_blob import read_with_etag, set_metadata_over, upload_over
from renderfarm_azure.event_publisher import ServiceBusEventPublisher
from renderfarm_azure.guard import breaker
from renderfarm_azure.job_store import BlobJobStores
from renderfarm_azure.senders import QueueSenders

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 32
_JSON = ContentSettings(content_type="application/json")
#: The metadata key of a ledger marker's code (d, f or c: renderfarm.job_end).
_CODE = "code"

END_EVENTS = {
    JobOutcome.COMPLETED: EventType.JOB_COMPLETED,
    JobOutcome.FAILED: EventType.JOB_FAILED,
    JobOutcome.CANCELLED: EventType.JOB_CANCELLED,
}


class LedgerContention(KeptChanging):
    """The ledger changed under every attempt: settle the chunk again later."""


class JobLifecycle:
    def __init__(
        self,
        *,
        jobs: ContainerClient,
        store: BlobJobStores,
        events: EventPublisher,
        clock: Callable[[], datetime],
    ):
        self._jobs = jobs
        self._store = store
        self.store = store
        self._events = events
        self._clock = clock

    def chunk_settled(self, manifest: JobManifest, index: int, state: ChunkState) -> str | None:
        """Note chunk ``index`` settled as ``state``; after the job's last chunk, record the
        job's end. Returns the job's outcome once it has one."""
        cancelled = manifest.cancelled_at is not None
        if manifest.ledger == LEDGER_TREE:
            code = self._settle_in_tree(manifest, index, state)
            outcome = None if code is None else outcome_of(code, cancelled=cancelled)
        else:
            outcome = self._add_to_ledger(manifest, index, state).outcome(cancelled=cancelled)
        if outcome is None:
            return None
        return self.record_end(manifest.job_id, outcome)

    def _settle_in_tree(self, manifest: JobManifest, index: int, state: ChunkState) -> str | None:
        """Write the chunk's marker, then, while a node's children are all there, the node's
        (renderfarm.job_end); the code of every chunk together once the root is written."""
        tree = LedgerTree(len(manifest.chunks))
        node, code = tree.leaf(index), code_of(state)
        self._put_marker(manifest.job_id, node, code)
        while not tree.is_root(node):
            node = tree.parent(node)
            codes = self._children_codes(manifest.job_id, node)
            if len(codes) < tree.child_count(node):
                return None  # a sibling is still rendering: its settler goes on from here
            code = combined(codes)
            self._ensure_marker(manifest.job_id, node, code)
        return code

    def _marker(self, job_id: str, node: Node) -> BlobClient:
        name = layout.ledger_node_blob(job_id, node.level, node.index, fanout=FANOUT)
        return self._jobs.get_blob_client(name)

    def _put_marker(self, job_id: str, node: Node, code: str) -> None:
        """A chunk's own marker: no one else writes it, so it is written outright (the latest
        word wins, as a failed chunk may finish after all)."""
        self._marker(job_id, node).upload_blob(b"", overwrite=True, metadata={_CODE: code})

    def _ensure_marker(self, job_id: str, node: Node, code: str) -> None:
        """A node's marker, created once by whichever settler saw its children complete first.
        One that says otherwise (a child's word changed since) is corrected over its etag."""
        blob = self._marker(job_id, node)
        try:
            blob.upload_blob(b"", overwrite=False, metadata={_CODE: code})
            return
        except ResourceExistsError:
            pass

        def read() -> tuple[str | None, str | None]:
            properties = blob.get_blob_properties()
            return (properties.metadata or {}).get(_CODE), str(properties.etag)

        def write(new_code: str | None, etag: str | None) -> str:
            assert new_code is not None and etag is not None  # the marker exists: created above
            return set_metadata_over(blob, {_CODE: new_code}, etag)

        update_conditionally(
            read=read,
            change=lambda found: found if found == code else code,
            write=write,
            attempts=WRITE_ATTEMPTS,
            what=f"a ledger marker of job {job_id}",
            contention=LedgerContention,
        )

    def _children_codes(self, job_id: str, node: Node) -> list[str]:
        prefix = layout.ledger_children_prefix(job_id, node.level, node.index)
        listed = self._jobs.list_blobs(name_starts_with=prefix, include=["metadata"])
        return [item.metadata[_CODE] for item in listed if (item.metadata or {}).get(_CODE)]

    def record_start(self, job_id: str) -> None:
        """The job's first frame is in Blob: set ``started_at`` once and say so. Several
        chunks' first frames may race here; the etag lets one write, the event id keeps one."""
        updated = update_manifest(
            self._store.manifests,
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
        may both say it; the event id keeps one."""
        self._events.publish(
            [
                JobEvent(
                    type=EventType.CHUNK_FAILED,
                    job_id=manifest.job_id,
                    tenant=manifest.tenant,
                    at=self._clock(),
                    chunk_index=index,
                    detail={"error": error[:1000]},
                )
            ]
        )

    def record_end(self, job_id: str, outcome: str) -> str:
        """Write the outcome into the manifest unless one is there, then say how the job ended
        (again, if a crash came between: the event's id keeps it one)."""
        updated = update_manifest(
            self._store.manifests,
            job_id,
            lambda m: m if m.outcome is not None else m.ended(outcome, self._clock()),
            attempts=WRITE_ATTEMPTS,
        )
        manifest = updated.value
        if manifest is None:
            raise JobNotFound(job_id)
        if updated.wrote:
            log.info("job %s %s", job_id, outcome, extra={"job_id": job_id})
            if manifest.outcome == JobOutcome.COMPLETED:
                self._remember_timings(manifest)
        self._store.index.mark_terminal(manifest)
        self._announce(manifest)
        return str(manifest.outcome)

    def _remember_timings(self, manifest: JobManifest) -> None:
        """What this job measured, for planning the chunks of the scene's next jobs
        (renderfarm.chunk_plan). Best effort: a failure costs only the measurement."""
        try:
            usage = self._store.chunks.chunk_summaries(manifest.job_id)
            frames = {chunk.index: len(chunk.frames) for chunk in manifest.chunks}
            measured = measured_timings(
                [(frames.get(index, 0), summary.usage) for index, summary in usage.items()]
            )
            if measured is not None:
                self._store.timings.record_scene_timings(
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
                )
            ]
        )

    def _add_to_ledger(self, manifest: JobManifest, index: int, state: ChunkState) -> SettledChunks:
        blob = self._jobs.get_blob_client(layout.settled_blob(manifest.job_id))

        def read() -> tuple[SettledChunks, str | None]:
            body, etag = read_with_etag(blob)
            if body is None:
                return SettledChunks.empty(len(manifest.chunks)), None
            return SettledChunks.from_json(body), etag

        def noted(ledger: SettledChunks) -> SettledChunks:
            # a redelivery finds the chunk noted already: nothing to write
            return ledger if ledger.state_of(index) is state else ledger.with_chunk(index, state)

        def write(ledger: SettledChunks, etag: str | None) -> str:
            return upload_over(blob, ledger.to_json(), etag, content_settings=_JSON)

        return update_conditionally(
            read=read,
            change=noted,
            write=write,
            attempts=WRITE_ATTEMPTS,
            what=f"the ledger of job {manifest.job_id}",
            contention=LedgerContention,
        ).value


def job_lifecycle(
    settings: Settings, *, blob_service: BlobServiceClient, bus: ServiceBusClient
) -> JobLifecycle:
    """The lifecycle over these clients (the worker's and the dead-letter handler's own: the
    ``bus`` client must not be shared with another thread's receiver)."""
    jobs = blob_service.get_container_client(settings.jobs_container)
    return JobLifecycle(
        jobs=jobs,
        store=BlobJobStores.in_container(container=jobs, breaker=breaker("blob storage")),
        events=ServiceBusEventPublisher(
            senders=QueueSenders(client=bus, breaker=breaker("service bus")),
            queue_name=settings.events_queue,
        ),
        clock=lambda: datetime.now(UTC),
    )
