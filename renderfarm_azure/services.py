"""The composition root: every adapter the API uses, built once per process from Settings."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core.exceptions import ResourceExistsError
from azure.servicebus import ServiceBusClient
from azure.storage.blob import BlobServiceClient

from renderfarm.billing.guard import BudgetGuard
from renderfarm.chunks.plan import FarmCapacity
from renderfarm.jobs.approval import JobApproval, RestOfJob
from renderfarm.jobs.backpressure import Backpressure
from renderfarm.jobs.cancel import JobCancel
from renderfarm.jobs.listing import JobListing
from renderfarm.jobs.relabel import JobRelabel
from renderfarm.jobs.retry import JobRetry
from renderfarm.jobs.status_reader import JobStatusReader
from renderfarm.jobs.submission import JobSubmission
from renderfarm.keys.api_keys import KeyRing
from renderfarm.keys.rate_limit import Limiter
from renderfarm.projects.checks import ProjectChecks
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.settings import Settings
from renderfarm_azure import clients
from renderfarm_azure.billing_stores import budget_guard, budget_store, usage_totals
from renderfarm_azure.budget_store import TableBudgetStore
from renderfarm_azure.chunk_sender import ServiceBusChunkQueue
from renderfarm_azure.event_publisher import ServiceBusEventPublisher
from renderfarm_azure.guard import breaker, guarded
from renderfarm_azure.job_store import BlobJobStores
from renderfarm_azure.key_source import KeySource, KeyVaultKeySource, StaticKeySource
from renderfarm_azure.keyvault import settings_secret_client
from renderfarm_azure.project_store import BlobProjectStore
from renderfarm_azure.queue_counts import AdminQueueMonitor, EmulatorQueueMonitor, queue_monitor
from renderfarm_azure.rate_limit_store import rate_limiter
from renderfarm_azure.sas import FRAME_URL_LIFETIME, SasFrameLinks, SasSigner
from renderfarm_azure.scene_store import BlobSceneStore
from renderfarm_azure.senders import QueueSenders
from renderfarm_azure.usage_totals_store import TableUsageTotals
from renderfarm_azure.webhooks.registry import WebhookRegistry
from renderfarm_azure.webhooks.services import webhook_registry


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class JobUseCases:
    """What the API and the dashboard do with jobs, each over the ports it needs."""

    submission: JobSubmission
    status: JobStatusReader
    listing: JobListing
    cancel: JobCancel
    relabel: JobRelabel
    retry: JobRetry
    approval: JobApproval


@dataclass(frozen=True, kw_only=True)
class Services:
    settings: Settings
    blob_service: BlobServiceClient
    servicebus: ServiceBusClient
    jobs: BlobJobStores
    scenes: BlobSceneStore
    projects: BlobProjectStore
    signer: SasSigner
    frame_links: SasFrameLinks
    queue_monitor: AdminQueueMonitor | EmulatorQueueMonitor
    queue: ServiceBusChunkQueue
    senders: QueueSenders
    events: ServiceBusEventPublisher
    job_use_cases: JobUseCases
    keys: KeySource
    rate_limiter: Limiter
    blob_breaker: CircuitBreaker
    webhooks: WebhookRegistry
    #: The tenants' running usage totals (None: no table account, no usage kept).
    usage: TableUsageTotals | None = None
    #: The operator's budgets, read by the dashboard's usage page (None: no table account).
    budgets: TableBudgetStore | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        blob_breaker, bus_breaker = breaker("blob storage"), breaker("service bus")
        blob_service = clients.blob_service(settings)
        bus = clients.servicebus(settings)
        signer = SasSigner(service=blob_service, breaker=blob_breaker)
        jobs = BlobJobStores.in_container(
            container=blob_service.get_container_client(settings.jobs_container),
            breaker=blob_breaker,
        )
        scenes = BlobSceneStore(
            container=blob_service.get_container_client(settings.scenes_container),
            signer=signer,
            breaker=blob_breaker,
        )
        projects = BlobProjectStore(
            container=blob_service.get_container_client(settings.scenes_container),
            signer=signer,
            breaker=blob_breaker,
        )
        blenders = settings.blender_pools()
        senders = QueueSenders(client=bus, breaker=bus_breaker)
        queue = ServiceBusChunkQueue(
            senders=senders,
            queue_prefix=settings.queue_prefix,
            blenders=blenders,
            gpu=settings.gpu_workers,
        )
        events = ServiceBusEventPublisher(senders=senders, queue_name=settings.events_queue)
        usage, budgets = usage_totals(settings), budget_store(settings)
        return cls(
            settings=settings,
            blob_service=blob_service,
            servicebus=bus,
            jobs=jobs,
            scenes=scenes,
            projects=projects,
            signer=signer,
            frame_links=SasFrameLinks(
                signer=signer, container=settings.jobs_container, lifetime=FRAME_URL_LIFETIME
            ),
            queue_monitor=queue_monitor(settings, bus_breaker),
            queue=queue,
            job_use_cases=_job_use_cases(
                settings,
                jobs=jobs,
                scenes=scenes,
                projects=projects,
                queue=queue,
                events=events,
                budgets=budget_guard(settings, totals=usage, store=budgets),
            ),
            senders=senders,
            events=events,
            keys=_key_source(settings),
            rate_limiter=rate_limiter(settings, wall_clock=time.time, monotonic=time.monotonic),
            blob_breaker=blob_breaker,
            webhooks=webhook_registry(settings, blob_service, breaker=blob_breaker),
            usage=usage,
            budgets=budgets,
        )

    def ensure_containers(self) -> None:
        """Create the containers where nothing else has (locally; Bicep does it in Azure)."""
        settings = self.settings
        for name in (
            settings.scenes_container,
            settings.jobs_container,
            settings.webhooks_container,
        ):
            container = self.blob_service.get_container_client(name)
            try:
                guarded(self.blob_breaker, container.create_container)
            except ResourceExistsError:
                continue

    def close(self) -> None:
        if self.usage is not None:
            self.usage.close()
        if self.budgets is not None:
            self.budgets.close()
        self.senders.close()
        self.servicebus.close()
        self.blob_service.close()


def _job_use_cases(  # noqa: PLR0913 - keyword-only: each an adapter the use cases need
    settings: Settings,
    *,
    jobs: BlobJobStores,
    scenes: BlobSceneStore,
    projects: BlobProjectStore,
    queue: ServiceBusChunkQueue,
    events: ServiceBusEventPublisher,
    budgets: BudgetGuard | None,
) -> JobUseCases:
    """Submit, status, listing, cancel and retry over the adapters, sharing one backpressure
    count."""
    statuses = JobStatusReader(
        manifests=jobs.manifests, chunks=jobs.chunks, frames=jobs.frames, clock=utc_now
    )
    backpressure = Backpressure(
        index=jobs.index,
        chunks=jobs.chunks,
        max_queued_frames=settings.max_queued_frames_per_tenant,
    )
    submission = JobSubmission(
        manifests=jobs.manifests,
        index=jobs.index,
        scenes=scenes,
        queue=queue,
        events=events,
        backpressure=backpressure,
        clock=utc_now,
        blenders=settings.blender_pools(),
        gpu_workers=settings.gpu_workers,
        timings=jobs.timings,
        capacity=FarmCapacity(
            replicas=settings.worker_max_replicas,
            replica_start_s=settings.worker_start_seconds,
        ),
        projects=ProjectChecks(
            store=projects,
            max_files=settings.max_project_files,
            max_bytes=settings.max_project_bytes,
        ),
        budgets=budgets,
    )
    cancel = JobCancel(
        manifests=jobs.manifests,
        chunks=jobs.chunks,
        index=jobs.index,
        queue=queue,
        events=events,
        statuses=statuses,
        backpressure=backpressure,
        clock=utc_now,
    )
    retry = JobRetry(
        manifests=jobs.manifests,
        chunks=jobs.chunks,
        index=jobs.index,
        queue=queue,
        events=events,
        statuses=statuses,
        backpressure=backpressure,
        clock=utc_now,
    )
    return JobUseCases(
        submission=submission,
        status=statuses,
        listing=JobListing(index=jobs.index, statuses=statuses),
        relabel=JobRelabel(manifests=jobs.manifests, index=jobs.index, statuses=statuses),
        cancel=cancel,
        retry=retry,
        approval=JobApproval(
            manifests=jobs.manifests,
            statuses=statuses,
            rest=RestOfJob(manifests=jobs.manifests, queue=queue),
            awaiting=jobs.awaiting,
            clock=utc_now,
        ),
    )


def _key_source(settings: Settings) -> KeySource:
    if settings.keyvault_url:
        return KeyVaultKeySource(
            client=settings_secret_client(settings),
            breaker=breaker("key vault"),
            cache_seconds=settings.keyvault_cache_seconds,
        )
    return StaticKeySource(KeyRing.from_setting(settings.api_key_hashes))
