"""The API's own dependency: the caller's key and tenant, from a Bearer API key. The views of the
process's services that the API shares with the dashboard are in ``web_deps.services``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from functions.problems import Problem
from renderfarm.keys.api_keys import ApiKey, hash_key
from web_deps.services import ServicesDep

_bearer = HTTPBearer(auto_error=False, description="API key: Authorization: Bearer <key>")
_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="renderfarm"'}


def get_caller(
    request: Request,
    response: Response,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The valid key's tenant and id, after charging the key one request against its rate
    limit."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(
            401,
            "unauthenticated",
            "API key required",
            "send Authorization: Bearer <key>",
            headers=_UNAUTHORIZED,
        )
    caller = services.keys.key_for(credentials.credentials)
    if caller is None:
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
    request.state.tenant = caller.tenant
    return caller


CallerDep = Annotated[ApiKey, Depends(get_caller)]


def get_tenant(caller: CallerDep) -> str:
    """The caller's tenant (a request asks for its key once, whichever it depends on)."""
    return caller.tenant


TenantDep = Annotated[str, Depends(get_tenant)]
