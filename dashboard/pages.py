"""How the dashboard answers: its templates, a page or an error page, and the route class that
turns what goes wrong (no session, an expired form, something not found, a dependency down)
into pages, never stack traces."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from renderfarm.shared.errors import DependencyUnavailable, JobNotFound
from renderfarm.webhooks.rules import WebhookNotFound
from renderfarm_azure.session_secret import SessionSecretMissing

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
#: A fetch from static/dashboard.js sends this header: it is answered 401, not redirected.
FRAGMENT_HEADER = "rf-fragment"

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


def now() -> datetime:
    return datetime.now(UTC)


def page(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, template, {"request": request, **context}, status_code=status
    )
    response.headers["cache-control"] = "no-store"
    return response


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return page(request, "error.html", {"title": title, "message": message}, status)


def not_found_page(request: Request) -> HTMLResponse:
    """A path outside /api that matches nothing: a page, not the API's JSON problem."""
    return error_page(request, 404, "Not found", "There is no page at this address.")


def _answer_error(request: Request, error: Exception) -> Response:
    """The page for what went wrong while answering ``request``; re-raises the unknown."""
    if isinstance(error, SignInNeeded):
        if request.headers.get(FRAGMENT_HEADER):
            return Response(status_code=401, headers={"cache-control": "no-store"})
        target = "/sign-in?next=" + quote(error.next_path, safe="/")
        return RedirectResponse(target, status_code=303)
    if isinstance(error, CsrfRefused):
        return error_page(request, 403, "Form expired", "Reload the page and try again.")
    if isinstance(error, JobNotFound | NotFoundPage | WebhookNotFound):
        return error_page(
            request, 404, "Not found", "There is no such job or webhook for your tenant."
        )
    if isinstance(error, DependencyUnavailable):
        log.warning("dashboard: %s", error)
        response = error_page(
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
        return error_page(
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
