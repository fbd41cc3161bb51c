"""Narrow views of the process's services, as request dependencies: a route asks for what it
uses (a job use case, frame links, a store, the webhook registry), never for the whole bag of
services with its raw SDK clients, unless it reads the settings or a port no view names."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from renderfarm.billing.budgets import Budget
from renderfarm.billing.ports import NO_USAGE, UsageTotals
from renderfarm.jobs.approval import JobApproval
from renderfarm.jobs.cancel import JobCancel
from renderfarm.jobs.chunk_logs import ChunkLogReader
from renderfarm.jobs.listing import JobListing
from renderfarm.jobs.ports import FrameLinks
from renderfarm.jobs.relabel import JobRelabel
from renderfarm.jobs.retry import JobRetry
from renderfarm.jobs.status_reader import JobStatusReader
from renderfarm.jobs.submission import JobSubmission
from renderfarm_azure.project_store import BlobProjectStore
from renderfarm_azure.scene_store import BlobSceneStore
from renderfarm_azure.services import Services
from renderfarm_azure.webhooks.registry import WebhookRegistry


def get_services(request: Request) -> Services:
    """The app's services (``app.state.services``: a LazyServices the app factory set)."""
    services: Services = request.app.state.services()
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_job_submission(services: ServicesDep) -> JobSubmission:
    return services.job_use_cases.submission


def get_job_status(services: ServicesDep) -> JobStatusReader:
    return services.job_use_cases.status


def get_job_listing(services: ServicesDep) -> JobListing:
    return services.job_use_cases.listing


def get_job_cancel(services: ServicesDep) -> JobCancel:
    return services.job_use_cases.cancel


def get_job_relabel(services: ServicesDep) -> JobRelabel:
    return services.job_use_cases.relabel


def get_chunk_log_reader(services: ServicesDep) -> ChunkLogReader:
    return ChunkLogReader(manifests=services.jobs.manifests, logs=services.jobs.logs)


def get_job_retry(services: ServicesDep) -> JobRetry:
    return services.job_use_cases.retry


def get_job_approval(services: ServicesDep) -> JobApproval:
    return services.job_use_cases.approval


def get_frame_links(services: ServicesDep) -> FrameLinks:
    return services.frame_links


def get_scene_store(services: ServicesDep) -> BlobSceneStore:
    return services.scenes


def get_project_store(services: ServicesDep) -> BlobProjectStore:
    return services.projects


def get_webhook_registry(services: ServicesDep) -> WebhookRegistry:
    return services.webhooks


def get_usage_totals(services: ServicesDep) -> UsageTotals:
    """The usage totals; none kept (no table account) reads as nothing spent."""
    return services.usage if services.usage is not None else NO_USAGE


def get_kept_usage(services: ServicesDep) -> UsageTotals | None:
    """The usage totals, or None where the farm keeps none (no table account)."""
    return services.usage


class BudgetReader(Protocol):
    def budgets(self, tenant: str) -> list[Budget]:
        """The tenant's budgets (the operator sets them; a web request only reads them)."""
        ...


def get_budget_reader(services: ServicesDep) -> BudgetReader | None:
    """The operator's budgets, read-only; None where no table account keeps them."""
    return services.budgets


JobSubmissionDep = Annotated[JobSubmission, Depends(get_job_submission)]
JobStatusDep = Annotated[JobStatusReader, Depends(get_job_status)]
JobListingDep = Annotated[JobListing, Depends(get_job_listing)]
JobCancelDep = Annotated[JobCancel, Depends(get_job_cancel)]
JobRelabelDep = Annotated[JobRelabel, Depends(get_job_relabel)]
JobRetryDep = Annotated[JobRetry, Depends(get_job_retry)]
JobApprovalDep = Annotated[JobApproval, Depends(get_job_approval)]
FrameLinksDep = Annotated[FrameLinks, Depends(get_frame_links)]
ChunkLogReaderDep = Annotated[ChunkLogReader, Depends(get_chunk_log_reader)]
SceneStoreDep = Annotated[BlobSceneStore, Depends(get_scene_store)]
ProjectStoreDep = Annotated[BlobProjectStore, Depends(get_project_store)]
WebhookRegistryDep = Annotated[WebhookRegistry, Depends(get_webhook_registry)]
UsageTotalsDep = Annotated[UsageTotals, Depends(get_usage_totals)]
KeptUsageDep = Annotated[UsageTotals | None, Depends(get_kept_usage)]
BudgetReaderDep = Annotated[BudgetReader | None, Depends(get_budget_reader)]
