"""Schemathesis against the running API: the OpenAPI document tells the whole truth.

The API runs under uvicorn on a free loopback port, on Azurite and the Service Bus emulator.
Every schemathesis check is on. Each operation gets its examples, the coverage phase (boundary
values, missing and malformed inputs, undeclared methods) and positive and negative fuzzing;
then the stateful phase follows the document's links: POST /api/scenes -> upload ->
POST /api/jobs -> GET /api/jobs/{job_id} -> cancel, and POST /api/webhooks -> DELETE.

Every check runs on every answer, none narrowed (positive_data_acceptance included). A farm's
limit (too many frames, a schedule too far ahead, a project too large) is a 403 and a name that
cannot exist a 404, statuses the contract allows; the three rules that relate two values of one
request, which no JSON Schema states, are kept by the generated data instead
(tests/api/contract_steering.py steer_relations).

Driven through Hypothesis directly: schemathesis 4.32's pytest plugin fails on pytest 9.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Flaky
from hypothesis.stateful import run_state_machine_as_test
from schemathesis import Case, Response
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.api.conftest import KEYS, SCENE_BYTES
from tests.api.contract_steering import (
    SCENE_SHA256,
    skip_negatives_valid_on_the_wire,
    steer_job,
    steer_relations,
    steer_to_acceptance,
    upload,
)

KEY = KEYS["acme"]
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
    upload(Response.from_any(ticket))
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
        skip_negatives_valid_on_the_wire(case)
        steer_job(case)
        steer_relations(case)
        response = case.call()
        case.validate_response(response)

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
                steer_job(case)
                steer_relations(case)
                if case.meta is None or case.meta.generation.mode.is_positive:
                    steer_to_acceptance(body)  # a negative case stays as generated
            elif case.operation.label == "POST /api/webhooks" and isinstance(body, dict):
                body["url"] = hook_url

        def after_call(self, response: Response, case: Case[Any]) -> None:
            super().after_call(response, case)
            if case.operation.label == "POST /api/scenes":
                upload(response)

        def validate_response(
            self, response: Response, case: Case[Any], additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
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
