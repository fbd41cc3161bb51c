"""Schemathesis over /api/openapi.json: no generated request, however malformed, gets a 500.

Driven through Hypothesis directly: schemathesis 4.32's pytest plugin fails on pytest 9.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.openapi import from_asgi

from tests.api.conftest import auth

EXAMPLES_PER_OPERATION = 40


def test_no_generated_request_gets_a_server_error(client: TestClient, scene: str) -> None:
    del scene  # uploaded, so that some generated jobs get past validation
    schema = from_asgi("/api/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 6

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: Case[Any]) -> None:
        response = case.call(headers=auth())
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400 and case.path != "/api/health":
            assert response.headers["content-type"] == ["application/problem+json"]

    for operation in operations:
        given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))(exercise)()
        try:
            given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))(exercise)()
        except Unsatisfiable:
            assert operation.path == "/api/health"  # no input to make invalid
