"""The dashboard's pages: sign-in, jobs, one job, the farm, webhooks; and the fragments that
the jobs and job pages poll (static/dashboard.js) while something renders.

Every page reads through the domain's JobService and the narrow ports (FrameLinks, QueueMonitor,
the webhook registry), as the API does; errors become pages, never stack traces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from dashboard import session as sessions
from dashboard import views
from dashboard.farm import read_replicas
from renderfarm import blob_layout as layout
from renderfarm.api_keys import hash_key
from renderfarm.blender_pools import farm_queues
from renderfarm.cost import job_cost
from renderfarm.errors import DependencyUnavailable, JobNotFound
from renderfarm.events import EventType
from renderfarm.status import JobState
from renderfarm.webhook_urls import WebhookUrlRejected
from renderfarm.webhooks import TooManyWebhooks, WebhookNotFound
from renderfarm_azure.guard import breaker
from renderfarm_azure.services import Services
from renderfarm_azure.session_secret import SessionSecret, SessionSecretMissing
from web_deps.services import FrameLinksDep, JobServiceDep, WebhookRegistryDep, get_services

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
#: A fetch from static/dashboard.js sends this header: it is answered 401, not redirected.
FRAGMENT_HEADER = "rf-fragment"
MAX_FORM_BYTES = 16 * 1024
JOBS_PER_PAGE = 50
#: Log tails read for a job's page (a download each).
MAX_LOGS_READ = 10

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
)


class SignInNeeded(Exception):
    """No valid session: sign in, then come back to ``next_path``."""

    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A state-changing form without this session's CSRF token."""


class NotFoundPage(Exception):
    """Something this tenant has no access to, or that does not exist."""


def _page(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, template, {"request": request, **context}, status_code=status
    )
    response.headers["cache-control"] = "no-store"
    return response


def _error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return _page(request, "error.html", {"title": title, "message": message}, status)


def not_found_page(request: Request) -> HTMLResponse:
    """A path outside /api that matches nothing: a page, not the API's JSON problem."""
    return _error_page(request, 404, "Not found", "There is no page at this address.")


def _answer_error(request: Request, error: Exception) -> Response:
    """The page for what went wrong while answering ``request``; re-raises the unknown."""
    if isinstance(error, SignInNeeded):
        if request.headers.get(FRAGMENT_HEADER):
            return Response(status_code=401, headers={"cache-control": "no-store"})
        target = "/sign-in?next=" + quote(error.next_path, safe="/")
        return RedirectResponse(target, status_code=303)
    if isinstance(error, CsrfRefused):
        return _error_page(request, 403, "Form expired", "Reload the page and try again.")
    if isinstance(error, JobNotFound | NotFoundPage | WebhookNotFound):
        return _error_page(
            request, 404, "Not found", "There is no such job or webhook for your tenant."
        )
    if isinstance(error, DependencyUnavailable):
        log.warning("dashboard: %s", error)
        response = _error_page(
            request,
            503,
            "Service unavailable",
            f"{error.dependency.capitalize()} is down or not answering. "
            "This page will work again once it is back.",
        )
        response.headers["retry-after"] = str(error.retry_after)
        return response
    if isinstance(error, SessionSecretMissing):
        log.error("dashboard sessions are not configured: %s", error)
        return _error_page(
            request, 503, "Dashboard not configured", "Sign-in is not configured here."
        )
    raise error


_PAGE_ERRORS = (
    SignInNeeded,
    CsrfRefused,
    JobNotFound,
    NotFoundPage,
    WebhookNotFound,
    DependencyUnavailable,
    SessionSecretMissing,
)


class DashboardRoute(APIRoute):
    """Turns what goes wrong into pages: sign-in redirects, 403, 404 and 503."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except _PAGE_ERRORS as error:
                return _answer_error(request, error)

        return handle


router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


def _secret(request: Request, services: Services) -> bytes:
    holder: SessionSecret | None = getattr(request.app.state, "dashboard_secret", None)
    if holder is None:
        holder = SessionSecret(settings=services.settings, breaker=breaker("key vault"))
        request.app.state.dashboard_secret = holder
    return holder()


def _now() -> datetime:
    return datetime.now(UTC)


ServicesDep = Annotated[Services, Depends(get_services)]


class Signed:
    """The signed-in tenant of a request, and what its forms need."""

    def __init__(self, *, tenant: str, csrf: str, secret: bytes, session: sessions.Session):
        self.tenant = tenant
        self.csrf = csrf
        self._secret = secret
        self._session = session

    def check_csrf(self, token: str | None) -> None:
        if not sessions.csrf_ok(self._secret, self._session, token):
            raise CsrfRefused


def signed_in(request: Request, services: ServicesDep) -> Signed:
    secret = _secret(request, services)
    found = sessions.read(secret, request.cookies.get(sessions.COOKIE_NAME), now=_now())
    if found is None:
        path = request.url.path
        if request.headers.get(FRAGMENT_HEADER):
            path = request.headers.get("rf-page", "/")
        elif request.url.query:
            path += "?" + request.url.query
        raise SignInNeeded(sessions.safe_next(path))
    request.state.tenant = found.tenant
    return Signed(
        tenant=found.tenant,
        csrf=sessions.csrf_token(secret, found),
        secret=secret,
        session=found,
    )


SignedDep = Annotated[Signed, Depends(signed_in)]


async def form_fields(request: Request) -> dict[str, list[str]]:
    """A urlencoded form body (the dashboard's forms post no files)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


FormDep = Annotated[dict[str, list[str]], Depends(form_fields)]


def _one(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


class ChunkLogs(Protocol):
    def chunk_logs(self, job_id: str, indexes: list[int]) -> dict[int, str]:
        """Blender's last log lines of these chunks (a download each: only a few)."""


def get_chunk_logs(services: ServicesDep) -> ChunkLogs:
    return services.jobs


ChunkLogsDep = Annotated[ChunkLogs, Depends(get_chunk_logs)]


# Sign-in and sign-out.


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str = "/") -> HTMLResponse:
    return _page(request, "sign_in.html", {"next": sessions.safe_next(next), "error": None})


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(request: Request, services: ServicesDep, form: FormDep) -> Response:
    next_path = sessions.safe_next(_one(form, "next"))
    key = (_one(form, "key") or "").strip()
    limit = services.rate_limiter.check("dashboard-sign-in:" + hash_key(key))
    if not limit.allowed:
        return _page(
            request,
            "sign_in.html",
            {"next": next_path, "error": "Too many attempts: wait a minute and try again."},
            429,
        )
    tenant = services.keys.tenant_for(key) if key else None
    if tenant is None:
        return _page(
            request,
            "sign_in.html",
            {"next": next_path, "error": "That API key is not valid. Check it and try again."},
            401,
        )
    settings = services.settings
    lifetime = timedelta(minutes=settings.dashboard_session_minutes)
    secret = _secret(request, services)
    cookie, _ = sessions.issue(secret, tenant=tenant, now=_now(), lifetime=lifetime)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        sessions.COOKIE_NAME,
        cookie,
        max_age=int(lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.environment != "development",
    )
    return response


@router.post("/sign-out")
def sign_out(signed: SignedDep, form: FormDep, services: ServicesDep) -> Response:
    signed.check_csrf(_one(form, "csrf"))
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(
        sessions.COOKIE_NAME,
        path="/",
        httponly=True,
        samesite="strict",
        secure=services.settings.environment != "development",
    )
    return response


# Jobs.


def _state_filter(state: str | None) -> JobState | None:
    if not state:
        return None
    try:
        return JobState(state)
    except ValueError:
        return None


def _rows(job_service: JobServiceDep, tenant: str, state: JobState | None) -> list[views.JobRow]:
    page = job_service.list_jobs(tenant=tenant, size=JOBS_PER_PAGE, cursor=None, state=state)
    now = _now()
    return [views.job_row(status, now) for _, status in page.statuses]


@router.get("/", response_class=HTMLResponse)
@router.get("/jobs/rows", response_class=HTMLResponse)
def jobs_page(
    request: Request, signed: SignedDep, job_service: JobServiceDep, state: str | None = None
) -> HTMLResponse:
    """The jobs page, or (``/jobs/rows``) only its rows, which the page's script swaps in."""
    chosen = _state_filter(state)
    rows = _rows(job_service, signed.tenant, chosen)
    rows_only = request.url.path.endswith("/rows")
    return _page(
        request,
        "jobs_rows.html" if rows_only else "jobs.html",
        {
            "signed": signed,
            "rows": rows,
            "state": chosen.value if chosen else "",
            "states": views.STATE_FILTERS,
            "active": any(row.active for row in rows),
            "page": "jobs",
        },
    )


def _job_context(
    *,
    request: Request,
    job_id: str,
    signed: Signed,
    job_service: JobServiceDep,
    links: FrameLinksDep,
    logs: ChunkLogs,
) -> dict[str, Any]:
    if not layout.is_job_id(job_id):
        raise NotFoundPage(job_id)
    manifest, status = job_service.status(job_id, tenant=signed.tenant)
    troubled = views.troubled(status)[:MAX_LOGS_READ]
    tails = logs.chunk_logs(job_id, troubled) if troubled else {}
    request.state.media_origin = links.origin
    request.state.job_id = job_id
    previews = None
    if manifest.previews_at is not None:
        previews = {
            "contact_sheet": links.read_link(layout.contact_sheet_blob(job_id)).url,
            "video": links.read_link(layout.preview_video_blob(job_id)).url,
        }
    estimate = job_cost(status)
    chunks = views.chunk_views(manifest, status, tails)
    return {
        "signed": signed,
        "manifest": manifest,
        "status": status,
        "row": views.job_row(status, _now()),
        "chunks": chunks,
        "failures": [chunk for chunk in chunks if chunk.last_error],
        "thumbs": views.thumbnails(manifest, status, links),
        "more_frames": max(0, len(status.frames_present) - views.MAX_THUMBNAILS),
        "previews": previews,
        "cost_lines": views.cost_lines(estimate),
        "estimate": estimate,
        "timings": [
            ("Submitted", status.created_at),
            ("Started", status.started_at),
            ("Finished", status.finished_at),
            ("Cancelled", status.cancelled_at),
        ],
        "wall_time": views.duration(status.started_at, status.finished_at),
        "page": "jobs",
    }


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
@router.get("/jobs/{job_id}/live", response_class=HTMLResponse)
def job_page(
    *,
    request: Request,
    job_id: str,
    signed: SignedDep,
    job_service: JobServiceDep,
    links: FrameLinksDep,
    logs: ChunkLogsDep,
) -> HTMLResponse:
    """The job's page, or (``/live``) only its live part, which the page's script swaps in."""
    context = _job_context(
        request=request,
        job_id=job_id,
        signed=signed,
        job_service=job_service,
        links=links,
        logs=logs,
    )
    live = request.url.path.endswith("/live")
    return _page(request, "job_live.html" if live else "job.html", context)


@router.get("/jobs/{job_id}/cancel", response_class=HTMLResponse)
def cancel_confirm(
    request: Request, job_id: str, signed: SignedDep, job_service: JobServiceDep
) -> HTMLResponse:
    if not layout.is_job_id(job_id):
        raise NotFoundPage(job_id)
    _, status = job_service.status(job_id, tenant=signed.tenant)
    return _page(
        request,
        "cancel.html",
        {"signed": signed, "row": views.job_row(status, _now()), "page": "jobs"},
    )


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: str, signed: SignedDep, form: FormDep, job_service: JobServiceDep) -> Response:
    signed.check_csrf(_one(form, "csrf"))
    if not layout.is_job_id(job_id):
        raise NotFoundPage(job_id)
    job_service.cancel(job_id, tenant=signed.tenant)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


# The farm.


@router.get("/farm", response_class=HTMLResponse)
def farm_page(request: Request, signed: SignedDep, services: ServicesDep) -> HTMLResponse:
    settings = services.settings
    queues = (
        *farm_queues(settings.queue_prefix, settings.blender_pools(), gpu=settings.gpu_workers),
        settings.events_queue,
        settings.webhook_deliveries_queue,
    )
    counts = services.queue_monitor.counts(queues)
    return _page(
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


# Webhooks.


def _webhooks_context(signed: Signed, webhooks: WebhookRegistryDep) -> dict[str, Any]:
    return {
        "signed": signed,
        "webhooks": webhooks.list(signed.tenant),
        "event_types": [event.value for event in EventType],
        "page": "webhooks",
        "created": None,
        "error": None,
    }


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks_page(
    request: Request, signed: SignedDep, webhooks: WebhookRegistryDep
) -> HTMLResponse:
    return _page(request, "webhooks.html", _webhooks_context(signed, webhooks))


@router.post("/webhooks", response_class=HTMLResponse)
def add_webhook(
    request: Request, signed: SignedDep, form: FormDep, webhooks: WebhookRegistryDep
) -> HTMLResponse:
    signed.check_csrf(_one(form, "csrf"))
    url = (_one(form, "url") or "").strip()
    chosen = [EventType(e) for e in form.get("events", []) if e in {t.value for t in EventType}]
    error = None
    created = None
    if not url or not chosen:
        error = "Give an https URL and at least one event."
    else:
        try:
            created = webhooks.register(signed.tenant, url, chosen)
        except (WebhookUrlRejected, TooManyWebhooks) as refused:
            error = str(refused)
    context = {**_webhooks_context(signed, webhooks), "created": created, "error": error}
    return _page(request, "webhooks.html", context, 422 if error else 201)


@router.post("/webhooks/{webhook_id}/delete")
def remove_webhook(
    webhook_id: str, signed: SignedDep, form: FormDep, webhooks: WebhookRegistryDep
) -> Response:
    signed.check_csrf(_one(form, "csrf"))
    if not layout.is_job_id(webhook_id):  # the same 32 hex digits
        raise NotFoundPage(webhook_id)
    webhooks.remove(signed.tenant, webhook_id)
    return RedirectResponse("/webhooks", status_code=303)
