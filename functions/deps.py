"""Dependencies shared by the routes: narrow views of the process's services (the job use cases,
frame links, the webhook registry), and the caller's tenant. Routes ask for what they use, never
for the whole bag of services with its raw SDK clients."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from functions.problems import Problem
from renderfarm.api_keys import hash_key
from renderfarm.job_cancel import JobCancel
from renderfarm.job_listing import JobListing
from renderfarm.job_status_reader import JobStatusReader
from renderfarm.job_submission import JobSubmission
from renderfarm.ports import FrameLinks
from renderfarm_azure.project_store import BlobProjectStore
from renderfarm_azure.scene_store import BlobSceneStore
from renderfarm_azure.services import Services
from renderfarm_azure.webhooks.registry import WebhookRegistry

_bearer = HTTPBearer(auto_error=False, description="API key: Authorization: Bearer <key>")
_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="renderfarm"'}


def get_services(request: Request) -> Services:
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


def get_frame_links(services: ServicesDep) -> FrameLinks:
    return services.frame_links


def get_scene_store(services: ServicesDep) -> BlobSceneStore:
    return services.scenes


def get_project_store(services: ServicesDep) -> BlobProjectStore:
    return services.projects


def get_webhook_registry(services: ServicesDep) -> WebhookRegistry:
    return services.webhooks


JobSubmissionDep = Annotated[JobSubmission, Depends(get_job_submission)]
JobStatusDep = Annotated[JobStatusReader, Depends(get_job_status)]
JobListingDep = Annotated[JobListing, Depends(get_job_listing)]
JobCancelDep = Annotated[JobCancel, Depends(get_job_cancel)]
FrameLinksDep = Annotated[FrameLinks, Depends(get_frame_links)]
SceneStoreDep = Annotated[BlobSceneStore, Depends(get_scene_store)]
ProjectStoreDep = Annotated[BlobProjectStore, Depends(get_project_store)]
WebhookRegistryDep = Annotated[WebhookRegistry, Depends(get_webhook_registry)]


def get_tenant(
    request: Request,
    response: Response,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The tenant of a valid key, after charging the key one request against its rate limit."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(
            401,
            "unauthenticated",
            "API key required",
            "send Authorization: Bearer <key>",
            headers=_UNAUTHORIZED,
        )
    tenant = services.keys.tenant_for(credentials.credentials)
    if tenant is None:
        raise Problem(401, "unauthenticated", "Unknown API key", headers=_UNAUTHORIZED)
    decision = services.rate_limiter.check(hash_key(credentials.credentials))
    if not decision.allowed:
        raise Problem(
            429,
            "rate-limited",
            "Too many requests",
            f"at most {decision.limit} requests a minute per key",
            headers=decision.headers(),
        )
    response.headers.update(decision.headers())
    request.state.tenant = tenant
    return tenant


TenantDep = Annotated[str, Depends(get_tenant)]
