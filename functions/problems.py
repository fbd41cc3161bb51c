"""RFC 9457 problem details: every error this API answers, rendered in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from renderfarm.api_keys import KeyConfigError
from renderfarm.blend_header import BlendHeaderError
from renderfarm.blender_pools import NoBlenderPool, NoGpuWorkers
from renderfarm.errors import (
    ConcurrentUpdate,
    DependencyUnavailable,
    EnqueueFailed,
    IdempotencyKeyReused,
    InvalidCursor,
    InvalidSchedule,
    JobNotFound,
    ProjectFileNotFound,
    ProjectFileNotUsable,
    QueuedFramesCapExceeded,
    SceneNotFound,
    SceneNotUsable,
)
from renderfarm.file_set import FileSetError
from renderfarm.webhook_urls import WebhookUrlRejected
from renderfarm.webhooks import TooManyWebhooks, WebhookNotFound

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:renderfarm:problem:"
#: How long a tenant over its queued-frames cap is told to wait.
CAP_RETRY_AFTER_SECONDS = 60

log = logging.getLogger(__name__)
_PLACES = {"body", "path", "query", "header", "cookie"}
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class Problem(Exception):
    """An error answer; raise it from a route or dependency."""

    def __init__(  # noqa: PLR0913 - an RFC 9457 problem's fields
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ):
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class BodyTooLarge(Problem):
    """Raised while reading a body past the limit (the body-limit middleware answers it)."""

    def __init__(self, max_bytes: int):
        super().__init__(
            413, "body-too-large", "Request body too large", f"at most {max_bytes} bytes"
        )


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + problem.slug if problem.slug else "about:blank",
        "title": problem.title,
        "status": problem.status,
        "instance": request.url.path,
    }
    if problem.detail:
        body["detail"] = problem.detail
    body.update(problem.extra)
    return JSONResponse(
        body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    """``("body", "render", "samples")`` -> ``render.samples`` (``in`` says where it was)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _PLACES:
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_problem(error: RequestValidationError) -> Problem:
    errors = [
        {
            "field": _field_name(tuple(e["loc"])),
            "in": str(e["loc"][0]) if e["loc"] else "body",
            "detail": e["msg"],
        }
        for e in error.errors()
    ]
    if any(e["type"] == "json_invalid" for e in error.errors()):
        return Problem(
            400,
            "malformed-json",
            "Malformed JSON",
            "the body is not valid JSON",
            extra={"errors": errors},
        )
    fields = sorted({e["field"] for e in errors})
    return Problem(
        422,
        "validation",
        "Invalid request",
        "invalid " + ", ".join(fields),
        extra={"errors": errors},
    )


def domain_problem(error: Exception) -> Problem:  # noqa: PLR0911, PLR0912 (one per error kind)
    if isinstance(error, JobNotFound):
        return Problem(404, "job-not-found", "No such job")
    if isinstance(error, IdempotencyKeyReused):
        return Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            str(error),
            extra={"errors": [{"field": "Idempotency-Key", "in": "header", "detail": str(error)}]},
        )
    if isinstance(error, SceneNotFound):
        # A 404, not a 422: the request is well formed, what it names is missing (like a job
        # id that names no job), and only the farm's stored scenes can say so. A 422 would
        # mean the document failed to state a rule of the request.
        return Problem(
            404,
            "scene-not-found",
            "No such scene",
            str(error),
            extra={"errors": [{"field": "scene_sha256", "in": "body", "detail": str(error)}]},
        )
    if isinstance(error, SceneNotUsable):
        return Problem(
            422,
            "scene-not-usable",
            "Scene not usable",
            str(error),
            extra={"errors": [{"field": "scene_sha256", "in": "body", "detail": str(error)}]},
        )
    if isinstance(error, FileSetError | ProjectFileNotUsable):
        return _project_problem(error)
    if isinstance(error, BlendHeaderError):
        detail = f"the scene is not a .blend Blender can read: {error}"
        return Problem(
            422,
            "scene-not-a-blend",
            "Scene is not a .blend file",
            detail,
            extra={
                "reason": error.problem.value,
                "errors": [{"field": "scene_sha256", "in": "body", "detail": detail}],
            },
        )
    if isinstance(error, InvalidSchedule):
        return Problem(
            422,
            "validation",
            "Invalid request",
            str(error),
            extra={"errors": [{"field": "not_before", "in": "body", "detail": str(error)}]},
        )
    # NoBlenderPool and NoGpuWorkers: a 409, not a 422. The request is well formed; the farm
    # as deployed (its pools, its settings) cannot render it, which the document cannot know.
    # Pinning another Blender or rendering on the CPU resolves the conflict.
    if isinstance(error, NoBlenderPool):
        return Problem(
            409,
            "no-blender-pool",
            "No Blender for this scene",
            str(error),
            extra={
                "supported_versions": list(error.supported),
                "errors": [{"field": "blender", "in": "body", "detail": str(error)}],
            },
        )
    if isinstance(error, NoGpuWorkers):
        return Problem(
            409,
            "no-gpu-workers",
            "No GPU workers",
            str(error),
            extra={"errors": [{"field": "render.device", "in": "body", "detail": str(error)}]},
        )
    if isinstance(error, QueuedFramesCapExceeded):
        return Problem(
            429,
            "queued-frames-cap",
            "Too many frames waiting",
            str(error),
            headers={"Retry-After": str(CAP_RETRY_AFTER_SECONDS)},
            extra={"waiting": error.waiting, "cap": error.cap},
        )
    if isinstance(error, InvalidCursor):
        return Problem(
            400,
            "invalid-cursor",
            "Invalid cursor",
            str(error),
            extra={"errors": [{"field": "cursor", "in": "query", "detail": str(error)}]},
        )
    if isinstance(error, ConcurrentUpdate):
        return Problem(409, "concurrent-update", "Changed concurrently", "retry the request")
    if isinstance(error, EnqueueFailed):
        return Problem(
            503,
            "enqueue-failed",
            "Job not enqueued",
            f"{error}; the job is marked failed, submit again later",
            headers={"Retry-After": str(error.retry_after)},
            extra={"job_id": error.job_id, "status_url": f"/api/jobs/{error.job_id}"},
        )
    if isinstance(error, DependencyUnavailable):
        return Problem(
            503,
            "unavailable",
            "Service unavailable",
            str(error),
            headers={"Retry-After": str(error.retry_after)},
        )
    raise TypeError(f"not a domain error: {error!r}")


def _project_problem(error: FileSetError | ProjectFileNotUsable) -> Problem:
    """A project the farm refuses, naming the file by the user's own path for it."""
    # Files never uploaded are a 404, as a scene never uploaded is: what the request names is
    # missing from the farm's store, which only the farm can know.
    status, slug, title = (
        (404, "project-file-not-found", "Project file not found")
        if isinstance(error, ProjectFileNotFound)
        else (422, "project-file-not-usable", "Project file not usable")
        if isinstance(error, ProjectFileNotUsable)
        else (422, "project-refused", "Project refused")
    )
    return Problem(
        status,
        slug,
        title,
        str(error),
        extra={
            "path": error.path,
            "errors": [{"field": "files", "in": "body", "detail": str(error)}],
        },
    )


def webhook_problem(error: Exception) -> Problem:
    if isinstance(error, WebhookUrlRejected):
        # A 403, not a 422: the document states every rule of the URL's text (the route checks
        # it), so what is left is the farm's policy on where it sends events, decided by what
        # the host resolves to and by the farm's settings, neither of which is in the request.
        return Problem(
            403,
            "webhook-url-rejected",
            "Webhook URL not allowed",
            str(error),
            extra={"errors": [{"field": "url", "in": "body", "detail": str(error)}]},
        )
    if isinstance(error, TooManyWebhooks):
        return Problem(
            409, "too-many-webhooks", "Too many webhooks", str(error), extra={"limit": error.limit}
        )
    if isinstance(error, WebhookNotFound):
        return Problem(404, "webhook-not-found", "No such webhook")
    raise TypeError(f"not a webhook error: {error!r}")


def allowed_methods(request: Request) -> str:
    """Every method served at the request's path: Starlette's 405 names only the first route's
    (``Allow: POST`` for /api/jobs, which also answers GET)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    )


def install_problem_handlers(
    app: FastAPI,
    *,
    api_prefix: str = "/api",
    page_not_found: Callable[[Request], Response] | None = None,
) -> None:
    """JSON problems for the API. With ``page_not_found``, a path that matches no route and lies
    outside ``api_prefix`` (a browser's mistyped dashboard URL) gets that page instead; unknown
    paths under the prefix stay JSON problems, as API clients expect."""

    def under_api(path: str) -> bool:
        return path == api_prefix or path.startswith(api_prefix + "/")

    async def on_problem(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, Problem)
        return problem_response(error, request)

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return problem_response(validation_problem(error), request)

    async def on_http(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if (
            error.status_code == 404
            and page_not_found is not None
            and not under_api(request.url.path)
        ):
            return page_not_found(request)
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        problem = Problem(error.status_code, "", str(error.detail), headers=headers)
        return problem_response(problem, request)

    async def on_domain(request: Request, error: Exception) -> JSONResponse:
        return problem_response(domain_problem(error), request)

    async def on_webhook(request: Request, error: Exception) -> JSONResponse:
        return problem_response(webhook_problem(error), request)

    async def on_key_config(request: Request, error: Exception) -> JSONResponse:
        log.error("API key configuration is unreadable: %s", error)
        problem = Problem(
            503,
            "unavailable",
            "Service unavailable",
            "authentication is misconfigured",
            headers={"Retry-After": "60"},
        )
        return problem_response(problem, request)

    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        # The last line of defence: log the trace here, never send it.
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(Problem(500, "internal", "Internal error"), request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for kind in (
        JobNotFound,
        IdempotencyKeyReused,
        SceneNotUsable,
        FileSetError,
        ProjectFileNotUsable,
        BlendHeaderError,
        NoBlenderPool,
        NoGpuWorkers,
        InvalidSchedule,
        QueuedFramesCapExceeded,
        InvalidCursor,
        ConcurrentUpdate,
        DependencyUnavailable,
    ):
        app.add_exception_handler(kind, on_domain)
    for webhook_error in (WebhookUrlRejected, TooManyWebhooks, WebhookNotFound):
        app.add_exception_handler(webhook_error, on_webhook)
    app.add_exception_handler(KeyConfigError, on_key_config)
    app.add_exception_handler(Exception, on_unexpected)
