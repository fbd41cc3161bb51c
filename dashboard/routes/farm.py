"""The farm page: each pool's queue counts and, in the local farm, its replicas."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dashboard.deps import SignedDep
from dashboard.farm import read_replicas
from dashboard.pages import DashboardRoute, page
from renderfarm.shared.blender_pools import farm_queues
from web_deps.services import ServicesDep

router = APIRouter(route_class=DashboardRoute)


@router.get("/farm", response_class=HTMLResponse)
def farmpage(request: Request, signed: SignedDep, services: ServicesDep) -> HTMLResponse:
    settings = services.settings
    queues = (
        *farm_queues(settings.queue_prefix, settings.blender_pools(), gpu=settings.gpu_workers),
        settings.events_queue,
        settings.webhook_deliveries_queue,
    )
    counts = services.queue_monitor.counts(queues)
    return page(
        request,
        "farm.html",
        {
            "signed": signed,
            "counts": counts,
            "replicas": read_replicas(settings.local_replicas_file),
            "local": settings.local_replicas_file is not None,
            "page": "farm",
        },
    )
