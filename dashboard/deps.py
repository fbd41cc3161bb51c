"""The dashboard's own dependencies: the signed-in tenant of a session cookie (and its CSRF
check), a posted form, and Blender's log tails of a job's chunks. The views of the process's
services that the dashboard shares with the API are in ``web_deps.services``."""

from __future__ import annotations

from typing import Annotated, Protocol
from urllib.parse import parse_qs

from fastapi import Depends, Request

from dashboard import session as sessions
from dashboard.pages import FRAGMENT_HEADER, CsrfRefused, SignInNeeded, now
from renderfarm_azure.guard import breaker
from renderfarm_azure.services import Services
from renderfarm_azure.session_secret import SessionSecret
from web_deps.services import ServicesDep

MAX_FORM_BYTES = 16 * 1024


def session_secret(request: Request, services: Services) -> bytes:
    """The key that signs sessions, read once per app (from Key Vault in Azure)."""
    holder: SessionSecret | None = getattr(request.app.state, "dashboard_secret", None)
    if holder is None:
        holder = SessionSecret(settings=services.settings, breaker=breaker("key vault"))
        request.app.state.dashboard_secret = holder
    return holder()


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
    secret = session_secret(request, services)
    found = sessions.read(secret, request.cookies.get(sessions.COOKIE_NAME), now=now())
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


def one(form: dict[str, list[str]], name: str) -> str | None:
    """A form field's first value."""
    values = form.get(name)
    return values[0] if values else None


class ChunkLogs(Protocol):
    def chunk_logs(self, job_id: str, indexes: list[int]) -> dict[int, str]:
        """Blender's last log lines of these chunks (a download each: only a few)."""


def get_chunk_logs(services: ServicesDep) -> ChunkLogs:
    return services.jobs.chunks


ChunkLogsDep = Annotated[ChunkLogs, Depends(get_chunk_logs)]
