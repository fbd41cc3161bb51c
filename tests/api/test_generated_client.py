"""A client generated from the OpenAPI document by openapi-python-client lives a job's whole life
against the API under uvicorn, and every answer parses into the model the document names.

The client is generated once for the module, offline, from the document the app builds; an
answer with a status the document does not list raises (``raise_on_unexpected_status``).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from renderfarm_azure.services import Services
from tests.api.conftest import KEYS, SCENE_BYTES
from webapp.app import create_app

PACKAGE = "renderfarm_generated_client"
HOOK_URL = "http://127.0.0.1:9/hook"  # a development farm may call loopback over http


def _no_services() -> Services:
    raise AssertionError("building the document needs no services")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated package, imported; gone from sys.modules and sys.path afterwards."""
    root = tmp_path_factory.mktemp("generated")
    document = root / "openapi.json"
    document.write_text(json.dumps(create_app(services=_no_services).openapi()))
    config = root / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))  # no formatter: nothing to run but Python
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            f"--path={document}",
            f"--config={config}",
            "--meta=none",
            f"--output-path={root / PACKAGE}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout, run.stdout  # nothing of the document left out
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


class Api:
    """The generated operations and models by name, and a client keyed as a tenant."""

    def __init__(self, package: ModuleType, base_url: str, tenant: str = "acme"):
        self._package = package
        self.models = importlib.import_module(f"{PACKAGE}.models")
        self.client = package.AuthenticatedClient(
            base_url=base_url, token=KEYS[tenant], raise_on_unexpected_status=True
        )

    def call(self, tag: str, operation: str, **kwargs: Any) -> Any:
        """The operation's whole answer (status, headers, parsed model)."""
        module = importlib.import_module(f"{PACKAGE}.api.{tag}.{operation}")
        return module.sync_detailed(client=self.client, **kwargs)

    def parsed(self, status: int, model: str, answer: Any) -> Any:
        assert answer.status_code == status, answer.content
        assert type(answer.parsed).__name__ == model, answer.content
        return answer.parsed


@pytest.fixture(scope="module")
def api(generated: ModuleType, api_url: str) -> Api:
    return Api(generated, api_url)


def _scene(api: Api) -> str:
    """Upload the test scene as a client would: ask for a ticket, PUT the bytes."""
    sha256 = hashlib.sha256(SCENE_BYTES).hexdigest()
    body = api.models.SceneUpload(sha256=sha256, size=len(SCENE_BYTES))
    ticket = api.parsed(200, "SceneTicketPublic", api.call("scenes", "upload_scene", body=body))
    if not ticket.exists:
        headers = ticket.upload_headers.to_dict()
        put = httpx.put(ticket.upload_url, content=SCENE_BYTES, headers=headers)
        assert put.status_code == 201, put.text
    return sha256


def test_a_job_lives_its_whole_life_through_the_generated_client(api: Api) -> None:
    models = api.models
    health = api.parsed(200, "HealthPublic", api.call("health", "health"))
    assert health.status == "ok"
    scene = _scene(api)
    request = models.JobRequest(scene_sha256=scene, frames="1-3", chunk_size=1)

    accepted = api.parsed(
        202, "JobAcceptedPublic", api.call("jobs", "submit_job", body=request, idempotency_key="k1")
    )
    assert accepted.frames_total == 3 and accepted.chunk_count == 3
    replay = api.call("jobs", "submit_job", body=request, idempotency_key="k1")
    assert api.parsed(202, "JobAcceptedPublic", replay).job_id == accepted.job_id
    assert replay.headers["Idempotent-Replayed"] == "true"

    status = api.parsed(
        200, "JobStatusPublic", api.call("jobs", "job_status", job_id=accepted.job_id)
    )
    assert status.scene_sha256 == scene and len(status.chunks) == 3
    listed = api.parsed(200, "JobListPublic", api.call("jobs", "list_jobs", limit=100))
    assert accepted.job_id in {job.job_id for job in listed.jobs}

    cancelled = api.parsed(
        200, "JobStatusPublic", api.call("jobs", "cancel_job", job_id=accepted.job_id)
    )
    assert cancelled.state.value == "cancelled"
    assert cancelled.cancelled_at is not None


def test_the_generated_client_parses_each_refusal_as_a_problem(api: Api) -> None:
    missing = api.parsed(404, "ProblemPublic", api.call("jobs", "job_status", job_id="0" * 32))
    assert missing.type_.endswith(":job-not-found")
    never_uploaded = api.models.JobRequest(scene_sha256="f" * 64, frames="1")
    unknown_scene = api.parsed(
        404, "ProblemPublic", api.call("jobs", "submit_job", body=never_uploaded)
    )
    assert unknown_scene.type_.endswith(":scene-not-found")
    no_chunks = api.models.JobRequest(scene_sha256="f" * 64, frames="1", chunk_size=0)
    invalid = api.call("jobs", "submit_job", body=no_chunks)
    problem = api.parsed(422, "ValidationProblemPublic", invalid)
    assert [error.field for error in problem.errors] == ["chunk_size"]


def test_webhooks_are_created_listed_and_removed_through_the_generated_client(api: Api) -> None:
    models = api.models
    body = models.WebhookCreate(url=HOOK_URL, events=[models.EventType.JOB_COMPLETED])
    created = api.parsed(
        201, "WebhookCreatedPublic", api.call("webhooks", "create_webhook", body=body)
    )
    assert created.secret.startswith("whsec_")
    listed = api.parsed(200, "WebhookListPublic", api.call("webhooks", "list_webhooks"))
    [mine] = [hook for hook in listed.webhooks if hook.id == created.id]
    assert mine.deliveries.attempts == 0

    removed = api.call("webhooks", "delete_webhook", webhook_id=created.id)
    assert removed.status_code == 204
    gone = api.call("webhooks", "delete_webhook", webhook_id=created.id)
    assert api.parsed(404, "ProblemPublic", gone).type_.endswith(":webhook-not-found")

    refused = models.WebhookCreate(url="https://10.0.0.1/hook", events=body.events)
    problem = api.parsed(403, "ProblemPublic", api.call("webhooks", "create_webhook", body=refused))
    assert problem.type_.endswith(":webhook-url-rejected")


def test_the_generated_client_asks_which_project_files_are_missing(api: Api) -> None:
    models = api.models
    wanted = models.FileWanted(sha256=hashlib.sha256(b"a texture").hexdigest(), size=9)
    body = models.FilesMissingIn(files=[wanted])
    answer = api.parsed(200, "FilesMissingPublic", api.call("files", "files_missing", body=body))
    assert [upload.sha256 for upload in answer.missing] == [wanted.sha256]
