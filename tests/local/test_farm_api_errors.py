"""Each failure a person can act on becomes one clear line (the CLI prints it, exit 1)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from renderfarm_cli import main
from renderfarm_client.cli.options import options_from, render_options
from renderfarm_client.farm_api import FarmClient, FarmError, KeyRefused, RetryLater
from renderfarm_client.farm_errors import FarmUnreachable
from renderfarm_client.farm_http import FarmHttp
from renderfarm_client.render_request import RenderOptions
from renderfarm_local.supervisor import free_port
from tests.http_stub import DROP, Reply, Seen, http_stub

JOB = "0" * 32


@contextmanager
def problem(
    status: int, body: Mapping[str, object], headers: dict[str, str] | None = None
) -> Iterator[str]:
    """A farm that answers every request with this problem; yields its URL."""
    reply = Reply(
        status=status,
        body=dict(body),
        headers={"Content-Type": "application/problem+json", **(headers or {})},
    )
    with http_stub(lambda _: reply) as stub:
        yield stub.url


def error_of(url: str, *, key: str | None = "rf_key") -> FarmError:
    client = FarmClient(api_url=url, api_key=key, retry_for_s=0)
    with client, pytest.raises(FarmError) as raised:
        client.status(JOB)
    return raised.value


def test_a_wrong_key_says_so() -> None:
    with problem(401, {"title": "Unknown API key", "status": 401}) as url:
        error = error_of(url)
    assert str(error) == f"the farm at {url} refused the API key: check RENDERFARM_API_KEY"
    assert isinstance(error, KeyRefused) and not error.missing


def test_a_missing_key_says_which_variable_to_set() -> None:
    with problem(401, {"title": "API key required"}) as url:
        error = error_of(url, key=None)
    assert "needs an API key: set RENDERFARM_API_KEY" in str(error)
    assert isinstance(error, KeyRefused) and error.missing


def test_an_unknown_job_is_named() -> None:
    with problem(404, {"title": "No such job"}) as url:
        assert str(error_of(url)) == f"no job {JOB} on the farm at {url}"


def test_validation_problems_name_the_fields() -> None:
    body = {"title": "Invalid request", "errors": [{"field": "frames", "detail": "bad range"}]}
    with problem(422, body) as url:
        assert str(error_of(url)) == "Invalid request: frames: bad range"


def test_an_unavailable_farm_says_when_to_retry() -> None:
    body = {"title": "Service unavailable", "detail": "service bus unavailable"}
    with problem(503, body, {"Retry-After": "15"}) as url:
        error = error_of(url)
    assert str(error) == "Service unavailable: service bus unavailable (retry in 15 s)"
    assert isinstance(error, RetryLater) and error.retry_after_s == 15


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


@pytest.mark.parametrize(
    ("typed", "sent"),
    [("0", 0), ("9", 9), ("7", 7), ("low", "low"), ("Normal", "normal"), (" HIGH ", "high")],
)
def test_priority_is_a_number_or_a_band(typed: str, sent: int | str) -> None:
    """``--priority`` takes 0..9 or a band's name; the API maps a name to its band's middle."""

    @click.command()
    @render_options
    def submit(**kwargs: Any) -> None:
        click.echo(json.dumps(options_from(**kwargs).job_body("a" * 64)))

    result = CliRunner().invoke(submit, ["x.blend", "--frames", "1", "--priority", typed])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["priority"] == sent


@pytest.mark.parametrize("typed", ["10", "-1", "urgent", "5.5", ""])
def test_a_priority_outside_the_bands_is_a_usage_error(
    typed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["submit", "x.blend", "--frames", "1", "--priority", typed]) == 2
    assert "--priority" in capsys.readouterr().err


def test_cli_with_no_farm_prints_one_line_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--api-url", url, "--api-key", "rf_x", "jobs"]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: no farm answers at {url}: start one with `renderfarm local up`, "
        "or point --api-url / RENDERFARM_API_URL at yours\n"
    )


def test_a_farm_never_reached_is_given_up_on_after_the_first_contact_window() -> None:
    lines: list[str] = []
    http = FarmHttp(
        api_url=f"http://127.0.0.1:{free_port()}",
        api_key="k",
        retry_for_s=30,
        first_contact_s=0.5,
        on_retry=lines.append,
    )
    with pytest.raises(FarmUnreachable, match="no farm answers"):
        http.call("GET", "/api/jobs")
    # One backoff of 0.2 s fits in the window, the next (0.4 s) does not: not 30 s of tries.
    assert len(lines) == 1


def test_a_farm_that_answered_once_is_waited_for_while_it_restarts() -> None:
    lines: list[str] = []
    with http_stub(lambda _: Reply(body={"jobs": []})) as stub:
        http = FarmHttp(
            api_url=stub.url, api_key="k", retry_for_s=1.0, first_contact_s=0, on_retry=lines.append
        )
        http.call("GET", "/api/jobs")
    with pytest.raises(FarmUnreachable):
        http.call("GET", "/api/jobs")  # nobody listens now: the API restarting, say
    assert len(lines) >= 2 and all(line.startswith("no answer from") for line in lines)


def test_cli_with_a_missing_scene_prints_one_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    missing = tmp_path / "nope.blend"
    assert main(["--api-url", url, "submit", str(missing), "--frames", "1-3"]) == 1
    assert capsys.readouterr().err == f"error: no .blend at {missing}\n"


def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "x.blend"]) == 2
    assert "Missing option '--frames'" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", ["", "/api/"])
def test_the_farm_url_works_with_or_without_the_api_prefix(suffix: str) -> None:
    with http_stub(lambda _: Reply(body={"status": "healthy"})) as stub:
        with FarmClient(api_url=stub.url + suffix, api_key="rf_key") as client:
            client.health()
        assert [seen.path for seen in stub.seen] == ["/api/health"]


def test_submit_retries_while_the_api_restarts_with_one_idempotency_key() -> None:
    def answer(request: Seen) -> Reply | object:
        if len(stub.seen) <= 2:
            return DROP  # the API restarting: the connection closes without an answer
        if len(stub.seen) == 3:
            return Reply(status=503, body={"status": 503}, headers={"Retry-After": "0"})
        return Reply(
            status=202, body={"job_id": JOB, "frames_total": 3, "chunk_count": 1, "chunk_size": 3}
        )

    with http_stub(answer) as stub, FarmClient(api_url=stub.url, api_key="k") as client:
        job = client.submit({"scene_sha256": "a" * 64, "frames": "1-3"})
    keys = [seen.headers["idempotency-key"] for seen in stub.seen]
    assert job.job_id == JOB
    assert len(keys) == 4 and len(set(keys)) == 1
    assert stub.seen[-1].json() == {"scene_sha256": "a" * 64, "frames": "1-3"}
    assert stub.seen[-1].headers["authorization"] == "Bearer k"


def test_a_farm_that_stays_busy_is_retried_with_backoff_then_explained() -> None:
    reply = Reply(status=429, body={"title": "Too many requests"}, headers={"Retry-After": "1"})
    with http_stub(lambda _: reply) as stub:
        lines: list[str] = []
        client = FarmClient(api_url=stub.url, api_key="k", retry_for_s=1.5, on_retry=lines.append)
        started = time.monotonic()
        with pytest.raises(RetryLater, match=r"^Too many requests \(retry in 1 s\)$"):
            client.jobs()
        # Waited as Retry-After says (not the first backoff of 0.2 s), then gave up in time.
        assert len(stub.seen) == 2
        assert 1.0 <= time.monotonic() - started < 1.5
        assert lines == ["the farm answered 429 Too Many Requests: trying again in 1.0 s"]


def test_a_request_that_is_not_safe_to_repeat_is_sent_once() -> None:
    with http_stub(lambda _: DROP) as stub:
        client = FarmClient(api_url=stub.url, api_key="k")
        with client, pytest.raises(FarmError, match="failed"):
            client.http.call("POST", "/api/webhooks", json_body={}, retry=False)
        assert len(stub.seen) == 1


def test_an_upload_dropped_midway_is_sent_again_whole(tmp_path: Path) -> None:
    scene = tmp_path / "scene.blend"
    scene.write_bytes(b"BLENDER17-01v0503" + bytes(3 * 1024 * 1024))
    puts: list[int] = []

    def answer(request: Seen) -> Reply | object:
        if request.path == "/api/scenes":
            return Reply(body={"sha256": "x", "exists": False, "upload_url": f"{stub.url}/blob"})
        puts.append(len(request.body))
        return DROP if len(puts) == 1 else Reply(status=201)

    progress: list[tuple[int, int]] = []
    with http_stub(answer) as stub, FarmClient(api_url=stub.url, api_key="k") as client:
        _, uploaded = client.ensure_scene(scene, on_progress=lambda *p: progress.append(p))
    size = scene.stat().st_size
    assert uploaded and puts == [size, size]
    assert progress[-1] == (size, size)


def test_a_scene_the_farm_lacks_is_explained_by_the_farms_problem() -> None:
    body = {
        "type": "urn:renderfarm:problem:scene-not-found",
        "title": "No such scene",
        "errors": [{"field": "scene_sha256", "detail": "no scene uploaded with sha256 aaa"}],
    }
    with (
        problem(404, body) as url,
        FarmClient(api_url=url, api_key="rf_key") as client,
        pytest.raises(FarmError) as raised,
    ):
        client.http.call("POST", "/api/jobs", json_body={}, retry=False)
    assert str(raised.value) == "No such scene: scene_sha256: no scene uploaded with sha256 aaa"
