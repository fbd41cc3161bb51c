"""Each failure a person can act on becomes one clear line (the CLI prints it, exit 1)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from renderfarm_local.cli import main
from renderfarm_local.farm_api import FarmClient, FarmError
from renderfarm_local.render_request import RenderOptions
from renderfarm_local.supervisor import free_port

JOB = "0" * 32


def problem(
    status: int, body: Mapping[str, object], headers: dict[str, str] | None = None
) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            content=json.dumps(body),
            headers={"Content-Type": "application/problem+json", **(headers or {})},
        )

    return httpx.MockTransport(answer)


def error_of(transport: httpx.MockTransport, *, key: str | None = "rf_key") -> str:
    client = FarmClient(
        api_url="https://farm.example", api_key=key, transport=transport, retry_for_s=0
    )
    with client, pytest.raises(FarmError) as raised:
        client.status(JOB)
    return str(raised.value)


def test_a_wrong_key_says_so() -> None:
    message = error_of(problem(401, {"title": "Unknown API key", "status": 401}))
    assert (
        message == "the farm at https://farm.example refused the API key: check RENDERFARM_API_KEY"
    )


def test_a_missing_key_says_which_variable_to_set() -> None:
    message = error_of(problem(401, {"title": "API key required"}), key=None)
    assert "needs an API key: set RENDERFARM_API_KEY" in message


def test_an_unknown_job_is_named() -> None:
    assert error_of(problem(404, {"title": "No such job"})) == (
        f"no job {JOB} on the farm at https://farm.example"
    )


def test_validation_problems_name_the_fields() -> None:
    body = {"title": "Invalid request", "errors": [{"field": "frames", "detail": "bad range"}]}
    assert error_of(problem(422, body)) == "Invalid request: frames: bad range"


def test_an_unavailable_farm_says_when_to_retry() -> None:
    body = {"title": "Service unavailable", "detail": "service bus unavailable"}
    message = error_of(problem(503, body, {"Retry-After": "15"}))
    assert message == "Service unavailable: service bus unavailable (retry in 15 s)"


def test_bad_resolution_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(FarmError, match="WIDTHxHEIGHT"):
        RenderOptions(frames="1-3", resolution="320 by 240").job_body("a" * 64)


def test_options_become_the_api_ids() -> None:
    body = RenderOptions(
        frames="1-3",
        engine="eevee",
        samples=4,
        resolution="320x240",
        output_format="jpg",
        chunk_size=2,
    ).job_body("a" * 64)
    assert body == {
        "scene_sha256": "a" * 64,
        "frames": "1-3",
        "chunk_size": 2,
        "render": {
            "output_format": "JPEG",
            "engine": "BLENDER_EEVEE",
            "samples": 4,
            "resolution_x": 320,
            "resolution_y": 240,
        },
    }


def test_cli_with_no_farm_prints_one_line_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--api-url", url, "--api-key", "rf_x", "jobs"]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: no farm answers at {url}: start one with `renderfarm local up`, "
        "or point --api-url / RENDERFARM_API_URL at yours\n"
    )


def test_cli_with_a_missing_scene_prints_one_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    missing = tmp_path / "nope.blend"
    assert main(["--api-url", url, "submit", str(missing), "--frames", "1-3"]) == 1
    assert capsys.readouterr().err == f"error: no scene at {missing}\n"


def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "x.blend"]) == 2
    assert "Missing option '--frames'" in capsys.readouterr().err


@pytest.mark.parametrize("url", ["https://farm.example", "https://farm.example/api/"])
def test_the_farm_url_works_with_or_without_the_api_prefix(url: str) -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"status": "healthy"})

    with FarmClient(api_url=url, api_key="rf_key", transport=httpx.MockTransport(answer)) as client:
        client.health()
    assert seen == ["/api/health"]


def test_submit_retries_while_the_api_restarts_with_one_idempotency_key() -> None:
    keys: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(keys) == 2:
            raise httpx.RemoteProtocolError("closed mid-answer", request=request)
        if len(keys) == 3:
            return httpx.Response(503, json={"status": 503}, headers={"Retry-After": "0"})
        body = {"job_id": JOB, "frames_total": 3, "chunk_count": 1, "chunk_size": 3}
        return httpx.Response(202, json=body)

    with FarmClient(
        api_url="https://farm.example", api_key="k", transport=httpx.MockTransport(answer)
    ) as client:
        job = client.submit({"scene_sha256": "a" * 64, "frames": "1-3"})
    assert job.job_id == JOB
    assert len(keys) == 4 and len(set(keys)) == 1


def test_a_request_that_is_not_safe_to_repeat_is_sent_once() -> None:
    tries: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        tries.append(request)
        raise httpx.RemoteProtocolError("closed mid-answer", request=request)

    transport = httpx.MockTransport(answer)
    client = FarmClient(api_url="https://farm.example", api_key="k", transport=transport)
    with client, pytest.raises(FarmError, match="failed"):
        client._call("POST", "/api/webhooks", json={}, retry=False)
    assert len(tries) == 1
