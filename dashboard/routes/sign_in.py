"""Signing in with an API key (a session cookie for its tenant, rate limited per key) and
signing out."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from dashboard import session as sessions
from dashboard.deps import FormDep, SignedDep, one, session_secret
from dashboard.pages import DashboardRoute, now, page
from renderfarm.keys.api_keys import hash_key
from web_deps.services import ServicesDep

router = APIRouter(route_class=DashboardRoute)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_inpage(request: Request, next: str = "/") -> HTMLResponse:
    return page(request, "sign_in.html", {"next": sessions.safe_next(next), "error": None})


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(request: Request, services: ServicesDep, form: FormDep) -> Response:
    next_path = sessions.safe_next(one(form, "next"))
    key = (one(form, "key") or "").strip()
    limit = services.rate_limiter.check("dashboard-sign-in:" + hash_key(key))
    if not limit.allowed:
        return page(
            request,
            "sign_in.html",
            {"next": next_path, "error": "Too many attempts: wait a minute and try again."},
            429,
        )
    tenant = services.keys.tenant_for(key) if key else None
    if tenant is None:
        return page(
            request,
            "sign_in.html",
            {"next": next_path, "error": "That API key is not valid. Check it and try again."},
            401,
        )
    settings = services.settings
    lifetime = timedelta(minutes=settings.dashboard_session_minutes)
    secret = session_secret(request, services)
    cookie, _ = sessions.issue(secret, tenant=tenant, now=now(), lifetime=lifetime)
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
    signed.check_csrf(one(form, "csrf"))
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(
        sessions.COOKIE_NAME,
        path="/",
        httponly=True,
        samesite="strict",
        secure=services.settings.environment != "development",
    )
    return response
