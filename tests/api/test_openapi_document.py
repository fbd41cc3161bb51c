"""The OpenAPI document itself: it passes the official OpenAPI 3.1 schema, every error answer
is a documented problem, and the answers no generated request reaches fit their schemas."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from starlette.requests import Request

from functions.openapi import RATE_LIMIT_HEADERS
from functions.problems import (
    PROBLEM_JSON,
    Problem,
    domain_problem,
    problem_response,
)
from functions.schemas import ProblemPublic, ValidationProblemPublic
from renderfarm.billing.budgets import Budget, BudgetError, BudgetExhausted, BudgetState
from renderfarm.billing.report import InvalidUsageSpan, UsageSpanTooLong
from renderfarm.chunks.logs import AttemptNotFound, ChunkLogNotFound, ChunkNotFound
from renderfarm.jobs.approval import NotAwaitingApproval
from renderfarm.jobs.retry import JobNotEnded
from renderfarm.keys.api_keys import KeyConfigError
from renderfarm.projects.file_set import FileSetError, MainFileNotFound, ProjectRefused
from renderfarm.shared.blend_header import BlenderVersion, BlendHeaderError, HeaderProblem
from renderfarm.shared.blender_pools import NoBlenderPool, NoGpuWorkers
from renderfarm.shared.errors import (
    CameraNotInScene,
    ConcurrentUpdate,
    DependencyUnavailable,
    DomainError,
    EnqueueFailed,
    FarmLimitExceeded,
    IdempotencyKeyReused,
    InvalidCursor,
    JobNotFound,
    NameNotInScene,
    ProjectFileNotFound,
    ProjectFileNotUsable,
    QueuedFramesCapExceeded,
    SceneNotFound,
    SceneNotUsable,
    ScheduleTooFarAhead,
    TooManyFrames,
)
from renderfarm.shared.settings import Settings
from renderfarm.webhooks.rules import TooManyWebhooks, WebhookNotFound
from renderfarm.webhooks.urls import HostUnresolvable, WebhookUrlRejected
from renderfarm_azure.services import Services
from tests.api.conftest import auth
from webapp.app import create_app


def _document() -> dict[str, Any]:
    return create_app(services=_no_services).openapi()


def _no_services() -> Services:
    raise AssertionError("building the document needs no services")


def test_the_document_passes_the_official_openapi_schema() -> None:
    document = json.loads(json.dumps(_document()))  # as served: status codes are strings
    assert document["openapi"].startswith("3.1.")
    validate(document)  # openapi-spec-validator: the official 3.1 schema, links included


def test_every_error_answer_is_a_documented_problem() -> None:
    document = _document()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            keyed = path != "/api/health"
            assert ("security" in operation) is keyed, (method, path)
            for status, answer in operation["responses"].items():
                if int(status) < 400:
                    headers = answer.get("headers", {})
                    assert keyed == ("RateLimit-Remaining" in headers), (method, path)
                    continue
                assert PROBLEM_JSON in answer["content"], (method, path, status)
                if status in {"429", "503"}:
                    assert answer["headers"]["Retry-After"]["required"], (method, path)
            if keyed:
                assert {"401", "413", "429", "500", "503"} <= operation["responses"].keys()


#: One of each domain error the API answers with its own problem.
DOMAIN_ERRORS: tuple[DomainError, ...] = (
    JobNotFound("0" * 32),
    IdempotencyKeyReused("used for another job"),
    SceneNotFound("never uploaded"),
    SceneNotUsable("not what its hash says"),
    BlendHeaderError(HeaderProblem.TRUNCATED, "too short"),
    ScheduleTooFarAhead("31 days ahead"),
    NoBlenderPool("too new", supported=[BlenderVersion.parse("5.3")]),
    QueuedFramesCapExceeded(waiting=10, asked=5, cap=12),
    InvalidCursor("forged"),
    ConcurrentUpdate("kept changing"),
    EnqueueFailed("0" * 32, DependencyUnavailable("servicebus", 5, "down")),
    DependencyUnavailable("blob", 5, "slow"),
    NoGpuWorkers(),
    FileSetError("a path is listed twice", path="a.png"),
    ProjectRefused("a name longer than 255 bytes", path="a.png"),
    MainFileNotFound("not among the files", path="shot.blend"),
    NameNotInScene("no .blend has a scene so named"),
    CameraNotInScene("no .blend has a camera so named"),
    FarmLimitExceeded("past a limit"),
    TooManyFrames("more than 100000 frames"),
    UsageSpanTooLong("a report spans at most 366 days"),
    ProjectFileNotUsable("not what its hash says", path="tex/a.png"),
    ProjectFileNotFound("never uploaded", path="tex/a.png"),
    WebhookUrlRejected("not https"),
    HostUnresolvable("no such host"),
    TooManyWebhooks(20),
    WebhookNotFound("x"),
    KeyConfigError("unreadable hashes"),
    BudgetExhausted(
        BudgetState(
            budget=Budget(tenant="acme", tag="project=forest", monthly_usd=5.0),
            month="2026-12",
            spent_usd=5.5,
        )
    ),
    InvalidUsageSpan("from is after to"),
    BudgetError("a budget is 0 to 10,000,000 USD a month"),
    ChunkNotFound("no chunk 9"),
    ChunkLogNotFound("not started yet"),
    AttemptNotFound("no attempt 3"),
    JobNotEnded("0" * 32, "rendering"),
    NotAwaitingApproval("0" * 32, "scouting"),
)
PROBLEMS: list[Problem] = [
    *(domain_problem(error) for error in DOMAIN_ERRORS),
    Problem(500, "internal", "Internal error"),
]


def _kinds(base: type[DomainError]) -> set[type[DomainError]]:
    return {base} | {kind for sub in base.__subclasses__() for kind in _kinds(sub)}


def test_every_domain_error_with_a_problem_of_its_own_is_checked_against_the_document() -> None:
    # A kind that sets no slug of its own (KeptChanging, HostUnresolvable) answers as its base.
    own = {kind for kind in _kinds(DomainError) if "slug" in vars(kind)} - {DomainError}
    assert own <= {type(error) for error in DOMAIN_ERRORS}


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda problem: problem.slug)
def test_every_problem_the_api_builds_fits_the_documented_schema(problem: Problem) -> None:
    scope = {"type": "http", "method": "POST", "path": "/api/jobs", "headers": []}
    response = problem_response(problem, Request(scope))
    _assert_documented(json.loads(bytes(response.body)), response.status_code)


def test_a_body_over_the_limit_gets_a_documented_problem() -> None:
    with TestClient(create_app(services=_no_services)) as client:
        too_large = Settings.model_fields["max_request_bytes"].default + 1
        response = client.post("/api/jobs", content=b"x" * too_large)
    assert response.status_code == 413
    _assert_documented(response.json(), 413)


def _assert_documented(body: dict[str, Any], status: int) -> None:
    model = ValidationProblemPublic if status == 422 else ProblemPublic
    model.model_validate(body)
    members = {field.alias or name for name, field in model.model_fields.items()}
    assert body.keys() <= members, body.keys() - members
    assert body["status"] == status


def test_removing_a_webhook_answers_with_the_ratelimit_headers(client: TestClient) -> None:
    """The route returned its own Response, which dropped the headers the key check set."""
    # Azurite is shared by the session: other tests may have filled acme's 20 webhooks.
    existing = client.get("/api/webhooks", headers=auth()).json()["webhooks"]
    if existing:
        webhook_id = existing[0]["id"]
    else:
        hook = {"url": "http://127.0.0.1:9/hook", "events": ["job.completed"]}
        webhook_id = client.post("/api/webhooks", json=hook, headers=auth()).json()["id"]
    response = client.delete(f"/api/webhooks/{webhook_id}", headers=auth())
    assert response.status_code == 204
    assert response.content == b""
    for name in RATE_LIMIT_HEADERS:
        assert response.headers[name].isdigit(), name
