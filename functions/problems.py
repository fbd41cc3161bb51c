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

from renderfarm.shared.errors import DomainError

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:renderfarm:problem:"

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


def domain_problem(error: DomainError) -> Problem:
    """The one mapping from a domain error to its problem: what the error says of itself
    (renderfarm/shared/errors.py DomainError), and the request value it is about as ``errors``."""
    detail = error.problem_detail()
    extra = dict(error.problem_extra())
    if error.field is not None:
        name, place = error.field
        extra["errors"] = [{"field": name, "in": place, "detail": detail or error.title}]
    return Problem(
        error.status,
        error.slug,
        error.title,
        detail,
        headers=error.problem_headers(),
        extra=extra,
    )


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
        assert isinstance(error, DomainError)
        if error.alarming:
            log.error("%s: %s", type(error).__name__, error)
        return problem_response(domain_problem(error), request)

    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        # The last line of defence: log the trace here, never send it.
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(Problem(500, "internal", "Internal error"), request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(Exception, on_unexpected)
