"""The ``renderfarm`` command for scripts and people, over the wire against the API alone (no
workers, so a job stays queued until it is cancelled): ``--json`` prints the API's answers in
the shapes the OpenAPI document gives, ``wait`` says how a job ended in its exit code, a JOB may
be the start of an id, and webhooks are added, listed and removed. ``wait``'s exit codes for a
job that completes or fails are in tests/local/test_cli_end_to_end.py, where workers render."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from renderfarm_cli import main
from renderfarm_client.farm_api import FarmClient
from testbed.scenes import build_cycles_scene, whole_blend
from tests.api.conftest import KEYS
from tests.openapi_shapes import assert_fits, served_document

JOB_PATH = "/api/jobs/{job_id}"
HOOK_URL = "http://127.0.0.1:9/renderfarm-hook"


@dataclass(frozen=True, kw_only=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        """stdout as one JSON document (json.loads refuses anything around it)."""
        return json.loads(self.stdout)


Cli = Callable[..., CliResult]


@pytest.fixture
def cli(api_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``renderfarm ARGS`` in this process, against the API, as the acme tenant; a terminal
    80 columns wide."""
    monkeypatch.setenv("COLUMNS", "80")

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(["--api-url", api_url, "--api-key", KEYS["acme"], *args])
        out, err = capsys.readouterr()
        return CliResult(code=code, stdout=out, stderr=err)

    return run


@pytest.fixture(scope="module")
def document(api_url: str) -> dict[str, Any]:
    return served_document(api_url)


@pytest.fixture(scope="module")
def farm(api_url: str) -> FarmClient:
    return FarmClient(api_url=api_url, api_key=KEYS["acme"])


@pytest.fixture(scope="module")
def one_file_scene(farm: FarmClient, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A .blend the API takes (no worker ever reads it): its sha256."""
    path = tmp_path_factory.mktemp("scene") / "queued.blend"
    path.write_bytes(whole_blend(b"BLENDER-v500", b"\0" * 1024))
    sha256, _ = farm.ensure_scene(path)
    return sha256


@pytest.fixture
def queued_job(farm: FarmClient, one_file_scene: str) -> Callable[[], str]:
    """Submit a one-frame job that stays queued (no workers): its id."""
    return lambda: farm.submit({"scene_sha256": one_file_scene, "frames": "1"}).job_id


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_cycles_scene(tmp_path_factory.mktemp("scenes") / "moving-square.blend")


def _all_job_ids(farm: FarmClient) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = farm.job_list(limit=100, cursor=cursor)
        ids += [job["job_id"] for job in page["jobs"]]
        if (cursor := page["next_cursor"]) is None:
            return ids


def test_submit_status_jobs_and_cancel_print_the_apis_answers_in_its_schemas(
    cli: Cli, scene: Path, document: dict[str, Any]
) -> None:
    submitted = cli("submit", str(scene), "--frames", "1-2", "--json")
    assert submitted.code == 0, submitted.stderr
    assert_fits(document, "POST", "/api/jobs", 202, submitted.json)
    job_id = submitted.json["job_id"]

    status = cli("status", job_id, "--json")
    assert status.code == 0, status.stderr
    assert_fits(document, "GET", JOB_PATH, 200, status.json)
    assert (status.json["job_id"], status.json["frames_total"]) == (job_id, 2)

    listed = cli("jobs", "--json", "--limit", "100")
    assert listed.code == 0, listed.stderr
    assert_fits(document, "GET", "/api/jobs", 200, listed.json)
    assert job_id in [job["job_id"] for job in listed.json["jobs"]]

    cancelled = cli("cancel", job_id, "--json")
    assert cancelled.code == 0, cancelled.stderr
    assert_fits(document, "POST", "/api/jobs/{job_id}/cancel", 200, cancelled.json)
    assert cancelled.json["state"] == "cancelled"


def test_jobs_pages_with_the_cursor_its_json_hands_out(
    cli: Cli, queued_job: Callable[[], str]
) -> None:
    made = {queued_job(), queued_job()}
    first = cli("jobs", "--json", "--limit", "1")
    cursor = first.json["next_cursor"]
    assert cursor is not None
    second = cli("jobs", "--json", "--limit", "1", "--cursor", cursor)
    assert second.code == 0, second.stderr
    ids = [page.json["jobs"][0]["job_id"] for page in (first, second)]
    assert ids[0] != ids[1] and made & set(ids)


def test_jobs_shows_every_whole_id_in_80_columns(cli: Cli, queued_job: Callable[[], str]) -> None:
    job_id = queued_job()
    listed = cli("jobs", "--limit", "5")
    assert listed.code == 0, listed.stderr
    assert job_id in listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80


def test_wait_exits_2_when_the_job_is_cancelled(
    cli: Cli, queued_job: Callable[[], str], document: dict[str, Any]
) -> None:
    job_id = queued_job()
    assert cli("cancel", job_id).code == 0
    waited = cli("wait", job_id, "--json")
    assert waited.code == 2, waited.stderr
    assert_fits(document, "GET", JOB_PATH, 200, waited.json)
    assert waited.json["state"] == "cancelled"
    said = cli("wait", job_id)
    assert (said.code, said.stdout.strip()) == (
        2,
        f"job {job_id} was cancelled (0 frames rendered)",
    )


def test_wait_exits_3_when_the_job_has_not_ended_by_the_timeout(
    cli: Cli, queued_job: Callable[[], str], document: dict[str, Any]
) -> None:
    job_id = queued_job()
    waited = cli("wait", job_id, "--timeout", "1", "--json")
    assert waited.code == 3, waited.stderr
    assert_fits(document, "GET", JOB_PATH, 200, waited.json)
    assert waited.json["state"] == "queued"
    said = cli("wait", job_id, "--timeout", "0")
    assert said.code == 3
    assert (
        said.stdout.strip() == f"job {job_id}: still queued after 0 s, 0/1 frames done (timed out)"
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("f" * 32,), f"error: no job {'f' * 32} on the farm"),
        (("not-an-id",), "'not-an-id' is not a job id"),
        (("0" * 32, "--timeout", "soon"), "'soon' is not a valid float"),
        ((), "Missing argument 'JOB'"),
    ],
    ids=["no-such-job", "not-an-id", "bad-timeout", "no-job"],
)
def test_wait_exits_4_when_it_cannot_tell_how_the_job_ended(
    cli: Cli, args: tuple[str, ...], says: str
) -> None:
    waited = cli("wait", *args)
    assert waited.code == 4
    assert says in waited.stderr
    assert waited.stdout == ""


def test_a_unique_prefix_names_its_job_for_status_wait_and_cancel(
    cli: Cli, farm: FarmClient, queued_job: Callable[[], str]
) -> None:
    job_id = queued_job()
    others = [other for other in _all_job_ids(farm) if other != job_id]
    length = next(n for n in range(1, 33) if not any(o.startswith(job_id[:n]) for o in others))
    prefix = job_id[:length].upper()  # as a person might type it
    status = cli("status", prefix)
    assert status.code == 0, status.stderr
    assert f"job {job_id}: queued" in status.stdout
    assert cli("cancel", prefix).stdout.strip() == f"job {job_id}: cancelled"
    assert cli("wait", prefix, "--json").json["job_id"] == job_id


def _jobs_sharing_a_first_digit(
    farm: FarmClient, queued_job: Callable[[], str]
) -> tuple[str, list[str]]:
    """A first hex digit and the jobs whose id starts with it (two at least), newest first."""
    while True:
        by_first: dict[str, list[str]] = {}
        for job_id in _all_job_ids(farm):
            by_first.setdefault(job_id[0], []).append(job_id)
        shared = [(first, ids) for first, ids in by_first.items() if len(ids) > 1]
        if shared:
            return shared[0]
        queued_job()  # 17 jobs at most: two then share a first digit


def test_an_ambiguous_prefix_is_a_usage_error_that_lists_its_jobs(
    cli: Cli, farm: FarmClient, queued_job: Callable[[], str]
) -> None:
    first, ids = _jobs_sharing_a_first_digit(farm, queued_job)
    status = cli("status", first)
    assert status.code == 2
    assert f"several jobs start with {first}; give more of the id:" in status.stderr
    listed = re.findall(r"^\s+([0-9a-f]{32})  ", status.stderr, re.MULTILINE)
    assert listed == ids[:10]
    assert status.stdout == ""
    assert cli("wait", first).code == 4  # 2 would read as "cancelled"


def test_a_prefix_no_job_starts_with_is_a_usage_error(cli: Cli, farm: FarmClient) -> None:
    taken = {job_id[:2] for job_id in _all_job_ids(farm)}
    free = next(f"{n:02x}" for n in range(256) if f"{n:02x}" not in taken)
    status = cli("status", free)
    assert status.code == 2
    assert f"no job of yours starts with {free}" in status.stderr


def test_webhooks_add_list_and_remove_and_the_secret_is_shown_once(
    cli: Cli, document: dict[str, Any]
) -> None:
    added = cli("webhooks", "add", HOOK_URL, "--event", "job.completed", "--event", "job.failed")
    assert added.code == 0, added.stderr
    hook = re.search(
        r"^webhook ([0-9a-f]{32}): (\S+) on job.completed, job.failed$", added.stdout, re.M
    )
    assert hook is not None and hook[2] == HOOK_URL, added.stdout
    secrets = re.findall(r"whsec_\S+", added.stdout)
    assert len(secrets) == 1
    assert "never shows it again" in added.stderr

    listed = cli("webhooks", "list")
    assert listed.code == 0, listed.stderr
    assert hook[1] in listed.stdout and "whsec_" not in listed.stdout
    as_json = cli("webhooks", "list", "--json")
    assert_fits(document, "GET", "/api/webhooks", 200, as_json.json)
    assert hook[1] in [each["id"] for each in as_json.json["webhooks"]]
    assert "whsec_" not in as_json.stdout

    removed = cli("webhooks", "remove", hook[1])
    assert (removed.code, removed.stdout.strip()) == (0, f"webhook {hook[1]} removed")
    assert hook[1] not in cli("webhooks", "list").stdout
    again = cli("webhooks", "remove", hook[1])
    assert again.code == 1
    assert again.stderr.startswith("error: ") and len(again.stderr.splitlines()) == 1


def test_webhooks_add_json_is_the_apis_answer_with_its_secret(
    cli: Cli, document: dict[str, Any]
) -> None:
    added = cli("webhooks", "add", HOOK_URL, "--event", "chunk.failed", "--json")
    assert added.code == 0, added.stderr
    assert_fits(document, "POST", "/api/webhooks", 201, added.json)
    assert added.json["secret"].startswith("whsec_")
    assert cli("webhooks", "remove", added.json["id"]).code == 0


def test_webhooks_add_refuses_an_event_the_farm_does_not_send_in_one_line(cli: Cli) -> None:
    added = cli("webhooks", "add", HOOK_URL, "--event", "job.exploded")
    assert added.code == 1
    assert added.stderr.startswith("error: ") and "events" in added.stderr
    assert len(added.stderr.splitlines()) == 1
    assert added.stdout == ""


@pytest.fixture(autouse=True)
def _no_webhooks_left(farm: FarmClient) -> Iterator[None]:
    yield
    for hook in farm.webhooks.list()["webhooks"]:
        farm.webhooks.remove(hook["id"])
