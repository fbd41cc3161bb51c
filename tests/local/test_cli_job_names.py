"""The CLI's names and tags against a scripted farm: ``submit --name --tag`` puts them in the
job, ``jobs --name --tag`` asks the farm to filter and shows each job's whole id, name and tags,
``status`` shows them too."""

from __future__ import annotations

import json
from typing import Any

import click
import pytest
from click.testing import CliRunner

from renderfarm_cli import main
from renderfarm_client.cli.options import options_from, render_options
from tests.http_stub import Reply, Seen, http_stub

JOB = "0123456789abcdef0123456789abcdef"
CREATED = "2026-01-01T12:00:00+00:00"
LISTED = {
    "job_id": JOB,
    "name": "shot_010 [key] light",
    "tags": ["shot=010", "lighting"],
    "submitted_by": "3f2a9c1b",
    "state": "queued",
    "frames_total": 250,
    "frames_done": 0,
    "frames_failed": 0,
    "created_at": CREATED,
    "status_url": f"/api/jobs/{JOB}",
}


def test_submit_sends_the_name_and_each_tag() -> None:
    @click.command()
    @render_options
    def submit(**kwargs: Any) -> None:
        click.echo(json.dumps(options_from(**kwargs).job_body("a" * 64)))

    args = ["x.blend", "--frames", "1", "--name", "shot 010", "--tag", "shot=010", "--tag", "wip"]
    result = CliRunner().invoke(submit, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert (body["name"], body["tags"]) == ("shot 010", ["shot=010", "wip"])
    plain = CliRunner().invoke(submit, ["x.blend", "--frames", "1"])
    assert "name" not in json.loads(plain.output) and "tags" not in json.loads(plain.output)


def test_jobs_filters_on_the_farm_and_shows_the_whole_id_name_and_tags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def answer(request: Seen) -> Reply:
        return Reply(body={"jobs": [LISTED], "next_cursor": None})

    with http_stub(answer) as stub:
        args = ["--api-url", stub.url, "--api-key", "k", "jobs", "--name", "shot_"]
        code = main([*args, "--tag", "shot=010", "--tag", "lighting"])
    assert code == 0
    assert stub.seen[0].query["tag"] == ["shot=010", "lighting"]
    assert stub.seen[0].query["name"] == ["shot_"]
    out = capsys.readouterr().out
    assert JOB in out  # whole, on one line: pasted as it is
    assert "shot_010 [key] light" in out
    assert "shot=010 lighting" in out


def test_status_shows_the_name_tags_and_submitter(capsys: pytest.CaptureFixture[str]) -> None:
    status = {
        **LISTED,
        "error": None,
        "chunks": [],
        "frame_urls": [],
        "frame_urls_next_offset": None,
    }
    with http_stub(lambda _: Reply(body=status)) as stub:
        assert main(["--api-url", stub.url, "--api-key", "k", "status", JOB]) == 0
    out = capsys.readouterr().out
    assert "name: shot_010 [key] light" in out
    assert "tags: shot=010 lighting" in out
    assert "submitted by API key 3f2a9c1b" in out
