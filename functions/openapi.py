"""What the OpenAPI document says beyond the routes' own models: every error answer a route can
give (application/problem+json, RFC 9457) with the headers it carries, and the links that feed
one operation's answer into the next request.

Routes declare their answers with ``answers()``; ``install_openapi`` adds the problem schemas the
answers refer to. Operation ids are the route functions' names (``submit_job``), set in app.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from functions.problems import PROBLEM_JSON
from functions.schemas import ProblemPublic, ValidationProblemPublic

Responses = dict[int | str, dict[str, Any]]
_REF = "#/components/schemas/{model}"


def _header(description: str, schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema}


def _integer(minimum: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum}


#: On every answer that got past the key check (the rate limiter counted the request).
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": _header("requests a minute this key may make", _integer(1)),
    "RateLimit-Remaining": _header("requests this key may make right now", _integer(0)),
    "RateLimit-Reset": _header("seconds until this key's whole allowance is back", _integer(0)),
}
RETRY_AFTER = {"Retry-After": _header("seconds to wait before trying again", _integer(0))}
LOCATION = {"Location": _header("the path of what was created", {"type": "string"})}
#: On a status read of something not over yet: when to read it again (RFC 9110 Retry-After, as
#: Azure's long-running operations send it on their status monitor).
POLL_AFTER = {
    "Retry-After": _header(
        "while the job is not over: seconds before its status can change (read it again no "
        "sooner); absent once it is over",
        _integer(1),
        required=False,
    )
}

#: What every route behind an API key can answer: the key check (401), the body limit (413),
#: the rate limit (429), a bug (500), a dependency that fails or is misconfigured (503).
KEYED_ERRORS = (401, 413, 429, 500, 503)

#: Each error status: what it means when the route says nothing more, and its headers.
_ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("The body is not JSON (`malformed-json`)", {}),
    401: (
        "No API key, or one this API does not know (`unauthenticated`)",
        {
            "WWW-Authenticate": _header(
                "the scheme to authenticate with", {"type": "string", "pattern": "^Bearer "}
            )
        },
    ),
    402: (
        "A monthly budget that holds the job is spent (`budget-exhausted`, with `budget`: its "
        "scope, what it has spent this month and when it resets); the farm's operator raises "
        "it, or it resets when the month turns over",
        {},
    ),
    403: ("Refused by the farm's policy", {}),
    404: ("Not found", {}),
    409: ("Conflict", {}),
    413: ("The body is larger than the API accepts (`body-too-large`)", {}),
    422: ("Invalid input: `errors` names each field at fault (`validation`)", {}),
    429: (
        "This key made too many requests (`rate-limited`, with the RateLimit headers)",
        {
            **RETRY_AFTER,
            **{name: {**header, "required": False} for name, header in RATE_LIMIT_HEADERS.items()},
        },
    ),
    500: ("An unexpected error (`internal`): logged, never detailed", {}),
    503: (
        "Blob Storage or Service Bus failed or was slow, or the API is misconfigured "
        "(`unavailable`)",
        RETRY_AFTER,
    ),
}


def problem(status: int, description: str | None = None) -> dict[str, Any]:
    """One error answer: its description, headers and problem+json body."""
    default, headers = _ERRORS[status]
    model = ValidationProblemPublic if status == 422 else ProblemPublic
    answer: dict[str, Any] = {
        "description": description or default,
        "content": {PROBLEM_JSON: {"schema": {"$ref": _REF.format(model=model.__name__)}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def answers(
    status: int,
    *,
    errors: Mapping[int, str | None],
    headers: Mapping[str, Any] | None = None,
    links: Mapping[str, Any] | None = None,
) -> Responses:
    """``responses=`` for a route behind an API key: its success answer's headers and links, and
    every error it can give. ``errors`` maps a status to what it means for this route (None:
    the general meaning); the errors every keyed route can give are added."""
    success: dict[str, Any] = {"headers": {**RATE_LIMIT_HEADERS, **(headers or {})}}
    if links:
        success["links"] = dict(links)
    declared: Responses = {status: success}
    for code in sorted({*KEYED_ERRORS, *errors}):
        declared[code] = problem(code, errors.get(code))
    return declared


def link(
    operation_id: str, description: str, *, body: Any = None, **parameters: str
) -> dict[str, Any]:
    """A link to ``operation_id`` whose parameters (and body members) come from this answer:
    runtime expressions, e.g. ``$response.body#/job_id`` (the official 3.1 schema takes strings
    only as link parameters)."""
    declared: dict[str, Any] = {"operationId": operation_id, "description": description}
    if parameters:
        declared["parameters"] = parameters
    if body is not None:
        declared["requestBody"] = body
    return declared


def problem_schemas() -> dict[str, Any]:
    """The components the error answers refer to."""
    schemas: dict[str, Any] = {}
    models: tuple[type[BaseModel], ...] = (ProblemPublic, ValidationProblemPublic)
    for model in models:
        schema = model.model_json_schema(by_alias=True, ref_template=_REF, mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def install_openapi(app: FastAPI) -> None:
    """Add the problem schemas to the document the app builds (and rebuilds when routes change)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if ProblemPublic.__name__ not in schemas:
            schemas.update(problem_schemas())
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook
