"""Budgets through the whole local farm, with one Blender worker: a tenant whose monthly budget
runs out in the middle of a job stops starting its chunks (the job shows ``held: budget``, and a
new submit gets 402 ``budget-exhausted``); raising the budget with ``renderfarm budgets set``
releases the job, which completes. A tag's budget refuses only jobs carrying the tag.

The farm looks at budgets often here (RENDERFARM_BUDGET_CACHE_SECONDS, _HOLD_RECHECK_SECONDS),
so the test need not wait the production 15 and 45 seconds."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from renderfarm_cli.command import cli
from renderfarm_client.farm_api import FarmClient, JobProgress
from renderfarm_local.farm_layout import FarmLayout, FarmPorts
from renderfarm_local.local_farm import LOCAL_TENANT, LocalFarm
from testbed.scenes import build_cycles_scene
from tests.local.conftest import TEST_SCALING

pytestmark = [pytest.mark.local_farm, pytest.mark.slow]
WAIT_S = 90.0
FRAMES = 6
RENDER = {"resolution_x": 64, "resolution_y": 48, "samples": 2}
FAST_BUDGETS = {
    "RENDERFARM_BUDGET_CACHE_SECONDS": "0.2",
    "RENDERFARM_BUDGET_HOLD_RECHECK_SECONDS": "2",
}


@pytest.fixture(scope="module")
def budget_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFarm]:
    saved = {name: os.environ.get(name) for name in FAST_BUDGETS}
    os.environ.update(FAST_BUDGETS)  # read by the API and by each worker as it starts
    farm = LocalFarm(
        layout=FarmLayout(root=tmp_path_factory.mktemp("budget-farm")),
        ports=FarmPorts.free(),
        scaling=replace(TEST_SCALING, max_replicas=1),  # one worker: one chunk at a time
    )
    try:
        farm.start()
        yield farm
    finally:
        farm.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def budgets(farm: LocalFarm, *args: str) -> None:
    """``renderfarm budgets ...`` on this farm's table account, as its operator runs it."""
    connection = farm.endpoints.rate_limit_table_connection_string
    result = CliRunner().invoke(cli, ["budgets", "--table-connection-string", connection, *args])
    assert result.exit_code == 0, result.output


def wait_for(client: FarmClient, job_id: str, done: Any) -> JobProgress:
    deadline = time.monotonic() + WAIT_S
    while not done(progress := client.status(job_id, with_frames=False)):
        assert time.monotonic() < deadline, f"job {job_id}: {progress}"
        time.sleep(0.3)
    return progress


def submit(farm: LocalFarm, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{farm.endpoints.api_url}/api/jobs",
        json=body,
        headers={"Authorization": f"Bearer {farm.endpoints.api_key}"},
        timeout=30,
    )


@pytest.mark.timeout(240)
def test_a_spent_budget_holds_the_rest_of_a_job_and_raising_it_releases_the_job(
    budget_farm: LocalFarm, tmp_path: Path
) -> None:
    farm = budget_farm
    # Spent after the first chunk's attempt: its worker-seconds alone cost more than this.
    budgets(farm, "set", LOCAL_TENANT, "--usd", "0.000001")
    scene = build_cycles_scene(tmp_path / "budget.blend")
    with FarmClient(api_url=farm.endpoints.api_url, api_key=farm.endpoints.api_key) as client:
        sha, _ = client.ensure_scene(scene)
        body = {"scene_sha256": sha, "frames": f"1-{FRAMES}", "chunk_size": 1, "render": RENDER}
        job = client.submit(body)
        held = wait_for(client, job.job_id, lambda p: p.held == "budget" or p.is_over)
        assert held.held == "budget" and not held.is_over, held
        assert 1 <= held.frames_done < FRAMES, held
        # Held chunks stay queued: several re-checks later nothing more has started.
        time.sleep(5)
        still = client.status(job.job_id, with_frames=False)
        assert (still.held, still.frames_done) == ("budget", held.frames_done), still
        assert all(c.attempts <= 1 for c in still.chunks), still.chunks

        refused = submit(farm, body)
        assert refused.status_code == 402, refused.text
        problem = refused.json()
        assert problem["type"].endswith("budget-exhausted"), problem
        assert problem["budget"]["scope"] == "tenant", problem
        assert problem["budget"]["spent_usd"] >= problem["budget"]["monthly_usd"], problem
        assert problem["budget"]["resets_at"].endswith("T00:00:00Z"), problem

        budgets(farm, "set", LOCAL_TENANT, "--usd", "1000")
        done = wait_for(client, job.job_id, lambda p: p.is_over)
    assert done.state == "completed" and done.held is None, done
    assert done.frames_done == FRAMES


@pytest.mark.timeout(120)
def test_a_tag_budget_refuses_only_jobs_carrying_the_tag(
    budget_farm: LocalFarm, tmp_path: Path
) -> None:
    farm = budget_farm
    budgets(farm, "set", LOCAL_TENANT, "--usd", "1000")
    budgets(farm, "set", LOCAL_TENANT, "--tag", "project=forest", "--usd", "0")
    time.sleep(0.5)  # the API's budget cache (0.2 s here)
    scene = build_cycles_scene(tmp_path / "tag.blend")
    with FarmClient(api_url=farm.endpoints.api_url, api_key=farm.endpoints.api_key) as client:
        sha, _ = client.ensure_scene(scene)
    body = {"scene_sha256": sha, "frames": "1", "render": RENDER}
    refused = submit(farm, {**body, "tags": ["project=forest"]})
    assert refused.status_code == 402, refused.text
    assert refused.json()["budget"]["scope"] == "tag:project=forest"
    assert refused.json()["budget"]["tag"] == "project=forest"
    assert submit(farm, {**body, "tags": ["project=desert"]}).status_code == 202
    budgets(farm, "remove", LOCAL_TENANT, "--tag", "project=forest")
