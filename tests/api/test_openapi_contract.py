"""Schemathesis against the running API: the OpenAPI document tells the whole truth.

The API runs under uvicorn on a free loopback port, on Azurite and the Service Bus emulator.
Every schemathesis check is on. Each operation gets its examples, the coverage phase (boundary
values, missing and malformed inputs, undeclared methods) and positive and negative fuzzing;
then the stateful phase follows the document's links: POST /api/scenes -> upload ->
POST /api/jobs -> GET /api/jobs/{job_id} -> cancel, and POST /api/webhooks -> DELETE.

Driven through Hypothesis directly: schemathesis 4.32's pytest plugin fails on pytest 9.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Flaky
from hypothesis.stateful import run_state_machine_as_test
from openapi_spec_validator import validate
from schemathesis import Case, Response
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema
from starlette.requests import Request

from functions.app import create_app
from functions.openapi import RATE_LIMIT_HEADERS
from functions.problems import (
    PROBLEM_JSON,
    Problem,
    domain_problem,
    problem_response,
    webhook_problem,
)
from functions.schemas import ProblemPublic, ValidationProblemPublic
from renderfarm.blend_header import BlenderVersion, BlendHeaderError, HeaderProblem
from renderfarm.blender_pools import NoBlenderPool
from renderfarm.errors import (
    ConcurrentUpdate,
    DependencyUnavailable,
    EnqueueFailed,
    IdempotencyKeyReused,
    InvalidCursor,
    InvalidSchedule,
    JobNotFound,
    QueuedFramesCapExceeded,
    SceneNotFound,
    SceneNotUsable,
)
from renderfarm.frames import FrameSpecError, parse_frames
from renderfarm.idempotency import KEY_PATTERN
from renderfarm.settings import Settings
from renderfarm.webhook_urls import WebhookUrlRejected
from renderfarm.webhooks import TooManyWebhooks, WebhookNotFound
from renderfarm_azure.services import Services
from tests.api.conftest import KEYS, SCENE_BYTES, auth

KEY = KEYS["acme"]
SCENE_SHA256 = hashlib.sha256(SCENE_BYTES).hexdigest()
SHA256 = r"[0-9a-f]{64}"
#: Generated cases per operation in the fuzzing phase (examples and coverage come on top).
FUZZ_EXAMPLES = 30
#: Scenarios of the stateful phase, and the most steps in one.
SCENARIOS = 40
STEPS = 8
#: Runs of the state machine, each on its own seed, to get SCENARIOS scenarios in all.
MAX_SUITES = 5
START_TIMEOUT_S = 30.0

_HYPOTHESIS = hypothesis.settings(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)


@pytest.fixture(scope="module")
def uploaded_scene(api_url: str) -> str:
    """The scene jobs name, uploaded as a client would."""
    ticket = httpx.post(
        f"{api_url}/api/scenes",
        json={"sha256": SCENE_SHA256, "size": len(SCENE_BYTES)},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    _upload(Response.from_any(ticket))
    return SCENE_SHA256


def _schema(api_url: str, tmp_path: Path) -> OpenApiSchema:
    # Every request as acme; globex is there for object_level_authorization to read acme's
    # jobs and webhooks with, which must not work.
    users = tmp_path / "users.json"
    users.write_text(
        json.dumps(
            {
                "auth": [
                    {
                        "name": tenant,
                        "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {key}"}],
                    }
                    for tenant, key in KEYS.items()
                ]
            }
        )
    )
    config = SchemathesisConfig.from_dict(
        {
            "auth": {"wfc": {"path": str(users), "user": "acme", "peers": list(KEYS)}},
            "generation": {"mode": "all"},
            "phases": {"stateful": {"generation": {"mode": "positive"}}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{api_url}/api/openapi.json", config=config)
    assert isinstance(schema, OpenApiSchema)
    return schema


# --- Where the harness steers generated data -------------------------------------------------


def _steer_job(case: Case[Any]) -> None:
    """Make a generated job's fate depend on its own body. Each change puts a valid value in
    place of another valid one, so a negative case stays negative.

    - A scene never uploaded only ever gets 422: name the uploaded scene instead.
    - A short Idempotency-Key ("0") sent again with another body gets 422: suffix the key with
      the body's hash, so the same key comes back only with the same body (a replay).
    """
    body = case.body
    if case.operation.label != "POST /api/jobs" or not isinstance(body, dict):
        return
    scene = body.get("scene_sha256")
    if isinstance(scene, str) and re.fullmatch(SHA256, scene):
        body["scene_sha256"] = SCENE_SHA256
    for name, key in list((case.headers or {}).items()):
        if name.lower() == "idempotency-key" and re.fullmatch(KEY_PATTERN, str(key)):
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            case.headers[name] = f"{key[:190]}-{digest}"


def _steer_to_acceptance(body: dict[str, Any]) -> None:
    """Most generated jobs break a rule no schema states (see below): the stateful phase is
    about what follows an accepted job, so it drops or replaces what would break one. The
    stateless test covers these fields."""
    body.pop("not_before", None)
    body.pop("blender", None)
    try:
        parse_frames(body["frames"], step=body.get("step", 1))
    except (FrameSpecError, KeyError, TypeError):
        body["frames"] = "1-3"
    render = body.get("render")
    if isinstance(render, dict) and render.get("engine") == "BLENDER_WORKBENCH":
        render.pop("samples", None)


def _upload(ticket: Response) -> None:
    """PUT the scene's bytes to the upload URL a ticket gave, as a client would."""
    data = ticket.json()
    if ticket.status_code == 200 and not data["exists"] and data["sha256"] == SCENE_SHA256:
        put = httpx.put(data["upload_url"], content=SCENE_BYTES, headers=data["upload_headers"])
        assert put.status_code == 201, put.text


_CHECKS: dict[str, Any] = {}

# --- The tests ---------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_every_operation_keeps_the_documented_contract(
    api_url: str, uploaded_scene: str, tmp_path: Path
) -> None:
    del uploaded_scene  # generated jobs name it
    schema = _schema(api_url, tmp_path)
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) >= 9

    @hypothesis.settings(_HYPOTHESIS, max_examples=FUZZ_EXAMPLES)
    def exercise(case: Case[Any]) -> None:
        response = case.call()
        case.validate_response(response, **_CHECKS)

    failures: list[str] = []
    for operation in operations:
        test = create_test(
            operation=operation,
            test_func=exercise,
            config=HypothesisTestConfig(
                project=schema.config,
                modes=[
                    HypothesisTestMode.EXAMPLES,
                    HypothesisTestMode.COVERAGE,
                    HypothesisTestMode.FUZZING,
                ],
            ),
        )
        try:
            test()
        except (Exception, BaseExceptionGroup) as error:  # schemathesis' FailureGroup is the latter
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.timeout(300)
def test_the_linked_operations_keep_the_documented_contract(api_url: str, tmp_path: Path) -> None:
    schema = _schema(api_url, tmp_path)
    hook_url = "http://127.0.0.1:9/hook"  # a development farm may call loopback over http
    scenarios = 0

    class Scenario(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Case[Any]) -> None:
            body = case.body
            if case.operation.label == "POST /api/scenes" and isinstance(body, dict):
                case.body = {"sha256": SCENE_SHA256, "size": len(SCENE_BYTES)}
            elif case.operation.label == "POST /api/jobs" and isinstance(body, dict):
                _steer_job(case)
                _steer_to_acceptance(body)
            elif case.operation.label == "POST /api/webhooks" and isinstance(body, dict):
                body["url"] = hook_url

        def after_call(self, response: Response, case: Case[Any]) -> None:
            super().after_call(response, case)
            if case.operation.label == "POST /api/scenes":
                _upload(response)

        def validate_response(
            self, response: Response, case: Case[Any], additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
                **_CHECKS,
            )

        def teardown(self) -> None:
            nonlocal scenarios
            scenarios += 1
            super().teardown()

    for seed in range(MAX_SUITES):
        settings = hypothesis.settings(
            _HYPOTHESIS,
            derandomize=False,
            max_examples=SCENARIOS - scenarios,
            stateful_step_count=STEPS,
            phases=[Phase.generate],
        )
        # A rule's strategy depends on what the API answered before (the resources it made),
        # so Hypothesis cannot always replay a path it took: go on with another seed, as
        # schemathesis' own runner does.
        with contextlib.suppress(Flaky):
            run_state_machine_as_test(hypothesis.seed(seed)(Scenario), settings=settings)
        if scenarios >= SCENARIOS:
            break
    assert scenarios >= SCENARIOS, f"{scenarios} scenarios ran in {MAX_SUITES} suites"


# --- The document itself, and the answers no generated request reaches --------------------------


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


PROBLEMS: list[Problem] = [
    *(
        domain_problem(error)
        for error in (
            JobNotFound("0" * 32),
            IdempotencyKeyReused("used for another job"),
            SceneNotFound("never uploaded"),
            SceneNotUsable("not what its hash says"),
            BlendHeaderError(HeaderProblem.TRUNCATED, "too short"),
            InvalidSchedule("in the past"),
            NoBlenderPool("too new", supported=[BlenderVersion.parse("5.3")]),
            QueuedFramesCapExceeded(waiting=10, asked=5, cap=12),
            InvalidCursor("forged"),
            ConcurrentUpdate("kept changing"),
            EnqueueFailed("0" * 32, DependencyUnavailable("servicebus", 5, "down")),
            DependencyUnavailable("blob", 5, "slow"),
        )
    ),
    *(
        webhook_problem(error)
        for error in (WebhookUrlRejected("not https"), TooManyWebhooks(20), WebhookNotFound("x"))
    ),
    Problem(500, "internal", "Internal error"),
]


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
