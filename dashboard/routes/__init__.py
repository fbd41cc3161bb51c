"""The dashboard's pages, one module per resource: signing in, jobs, the farm, usage, webhooks.
Every page reads through the domain's job use cases and the narrow ports (FrameLinks,
QueueMonitor, the webhook registry, the usage report), as the API does; errors become pages
(dashboard/pages.py)."""

from fastapi import APIRouter

from dashboard.routes import approval, chunk_logs, farm, job_retry, jobs, sign_in, usage, webhooks

router = APIRouter(include_in_schema=False)
for _module in (sign_in, jobs, job_retry, approval, chunk_logs, farm, usage, webhooks):
    router.include_router(_module.router)

__all__ = ["router"]
