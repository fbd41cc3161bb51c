"""The FastAPI app: the API's routes under /api, with problem+json errors, limits, logs and
traces; the web dashboard (dashboard/) at ``/``, its files under ``/static``. The uvicorn
factory (``webapp.app:create_app``) and the Functions entry point (function_app.py) both
build it here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from pydantic import ValidationError

from dashboard.pages import STATIC_DIR, not_found_page
from dashboard.routes import router as dashboard_router
from dashboard.security import SecurityHeadersMiddleware
from functions.middleware import BodyLimitMiddleware, RequestLogMiddleware
from functions.openapi import install_openapi
from functions.problems import install_problem_handlers
from functions.routes import (
    chunk_logs,
    files,
    health,
    job_approval,
    job_labels,
    job_retry,
    jobs,
    scenes,
    usage,
    webhooks,
)
from renderfarm.shared.json_logging import configure_json_logging
from renderfarm.shared.settings import Settings, get_settings
from renderfarm_azure.services import Services
from web_deps.lazy_services import LazyServices

API_PREFIX = "/api"


def create_app(
    services: Callable[[], Services] | None = None, settings: Settings | None = None
) -> FastAPI:
    """The app; ``services`` defaults to adapters built from the environment's settings."""
    lazy = LazyServices(services or (lambda: Services.from_settings(settings or get_settings())))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        lazy.close()

    app = FastAPI(
        title="renderfarm",
        version="0.1.0",
        summary="A serverless render farm for Blender: submit jobs, watch them render.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.services = lazy
    router = APIRouter(prefix=API_PREFIX)
    routes = (health, scenes, files, jobs, job_labels, job_retry, job_approval, chunk_logs, usage)
    for module in (*routes, webhooks):
        router.include_router(module.router)
    app.include_router(router)
    app.include_router(dashboard_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_problem_handlers(app, api_prefix=API_PREFIX, page_not_found=not_found_page)
    install_openapi(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=lambda: _max_request_bytes(settings))
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestLogMiddleware)
    configure_json_logging()
    # Without the ASGI "http send"/"http receive" spans: two per request, billed, no news.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="api/health", exclude_spans=["receive", "send"]
    )
    return app


def _operation_id(route: APIRoute) -> str:
    """The route function's name (``submit_job``): what generated clients call the operation."""
    return route.name


def _max_request_bytes(settings: Settings | None) -> int:
    """The configured body limit; the default while settings are invalid (that is a 503 later)."""
    try:
        return (settings or get_settings()).max_request_bytes
    except ValidationError:
        default: int = Settings.model_fields["max_request_bytes"].default
        return default
