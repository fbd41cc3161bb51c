"""A job's ledger of settled chunks in Blob Storage (renderfarm.jobs.lifecycle's JobLedgerStore),
and the job lifecycle wired over the Azure clients.

The tree's markers are empty blobs whose metadata holds their code (renderfarm.jobs.end): a
chunk's own marker is written outright by its settler alone; a node's is created once by whichever
settler saw its children complete first, and corrected over its etag if a child's word changed
since. Jobs from before the tree keep one ledger blob, updated over its etag.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from azure.core.exceptions import ResourceExistsError
from azure.servicebus import ServiceBusClient
from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient, ContentSettings

from renderfarm.chunks.plan import FarmCapacity
from renderfarm.chunks.record import ChunkState
from renderfarm.jobs.end import FANOUT, Node, SettledChunks
from renderfarm.jobs.lifecycle import (
    WRITE_ATTEMPTS,
    JobLifecycle,
    LedgerContention,
    LifecycleStores,
)
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.ports import JobCosts
from renderfarm.jobs.scout_settlement import QuotePolicy, ScoutSettlement
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.conditional_update import update_conditionally
from renderfarm.shared.settings import Settings
from renderfarm_azure.billing_stores import usage_recorder
from renderfarm_azure.conditional_blob import read_with_etag, set_metadata_over, upload_over
from renderfarm_azure.event_publisher import ServiceBusEventPublisher
from renderfarm_azure.guard import breaker
from renderfarm_azure.job_store import BlobJobStores
from renderfarm_azure.senders import QueueSenders

_JSON = ContentSettings(content_type="application/json")
#: The metadata key of a ledger marker's code (d, f or c: renderfarm.jobs.end).
_CODE = "code"


class BlobJobLedger:
    def __init__(self, *, jobs: ContainerClient):
        self._jobs = jobs

    def _marker(self, job_id: str, node: Node) -> BlobClient:
        name = layout.ledger_node_blob(
            job_id, node.level, node.index, fanout=FANOUT, retry_round=node.round
        )
        return self._jobs.get_blob_client(name)

    def put_marker(self, job_id: str, node: Node, code: str) -> None:
        """A chunk's own marker: no one else writes it, so it is written outright (the latest
        word wins, as a failed chunk may finish after all)."""
        self._marker(job_id, node).upload_blob(b"", overwrite=True, metadata={_CODE: code})

    def ensure_marker(self, job_id: str, node: Node, code: str) -> None:
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

    def children_codes(self, job_id: str, node: Node) -> list[str]:
        prefix = layout.ledger_children_prefix(
            job_id, node.level, node.index, retry_round=node.round
        )
        listed = self._jobs.list_blobs(name_starts_with=prefix, include=["metadata"])
        return [item.metadata[_CODE] for item in listed if (item.metadata or {}).get(_CODE)]

    def add_settled(self, manifest: JobManifest, index: int, state: ChunkState) -> SettledChunks:
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


def lifecycle_stores(jobs: ContainerClient, stores: BlobJobStores) -> LifecycleStores:
    """The lifecycle's stores: the ``jobs`` container's, and its ledger."""
    return LifecycleStores(
        manifests=stores.manifests,
        ledger=BlobJobLedger(jobs=jobs),
        index=stores.index,
        chunks=stores.chunks,
        timings=stores.timings,
    )


def job_lifecycle(
    settings: Settings,
    *,
    blob_service: BlobServiceClient,
    bus: ServiceBusClient,
    costs: JobCosts | None = None,
) -> JobLifecycle:
    """The lifecycle over these clients (the worker's and the dead-letter handler's own: the
    ``bus`` client must not be shared with another thread's receiver). Jobs' own costs go to
    ``costs``, else to a usage recorder of the settings' table account, if any."""
    jobs = blob_service.get_container_client(settings.jobs_container)
    stores = BlobJobStores.in_container(container=jobs, breaker=breaker("blob storage"))
    events = ServiceBusEventPublisher(
        senders=QueueSenders(client=bus, breaker=breaker("service bus")),
        queue_name=settings.events_queue,
    )
    return JobLifecycle(
        store=lifecycle_stores(jobs, stores),
        events=events,
        clock=utc_now,
        scouts=ScoutSettlement(
            manifests=stores.manifests,
            chunks=stores.chunks,
            events=events,
            awaiting=stores.awaiting,
            policy=quote_policy(settings),
            clock=utc_now,
        ),
        costs=costs if costs is not None else usage_recorder(settings),
    )


def quote_policy(settings: Settings) -> QuotePolicy:
    """Quotes of the pool this process serves: its replicas, and how long a quote waits."""
    return QuotePolicy(
        capacity=FarmCapacity(
            replicas=settings.worker_max_replicas, replica_start_s=settings.worker_start_seconds
        ),
        expiry=timedelta(hours=settings.quote_expiry_hours),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
