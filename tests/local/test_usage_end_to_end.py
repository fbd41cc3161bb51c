"""Usage through the whole local farm, with Blender workers: the running totals by tag
(``GET /api/usage?group_by=tag`` and ``renderfarm usage --by tag --json``) equal, for each tag,
the sum of its jobs' ``cost`` as their statuses show it (USD, worker-seconds and frames). One of
the jobs has a chunk that fails and is then retried: its failed attempt is counted in both.

The usage totals are written by the workers as attempts end and by whoever records a job's end;
the statuses are read from the chunk records. The cost model is linear (renderfarm.jobs.cost), so
the two add up to the same figures, up to float rounding."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from renderfarm_client.farm_api import FarmClient
from renderfarm_local.local_farm import LocalFarm
from testbed.scenes import build_cycles_scene
from tests.local.conftest import RunningFarm
from tests.local.faulty_farm import farm_with_faults

pytestmark = [pytest.mark.local_farm, pytest.mark.slow]
WAIT_S = 100.0
SETTLE_S = 20.0  # the last attempts' additions land just after their chunks settle
RENDER = {"resolution_x": 64, "resolution_y": 48, "samples": 2}
FAULTY_FRAME = 6
SHARED = "usage=shared"


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file whose frames the workers fail (absent: none)."""
    return tmp_path_factory.mktemp("faults") / "frames"


@pytest.fixture(scope="module")
def usage_farm(tmp_path_factory: pytest.TempPathFactory, faults: Path) -> Iterator[RunningFarm]:
    with farm_with_faults(tmp_path_factory.mktemp("usage-farm"), faults) as running:
        yield running


def api(farm: LocalFarm) -> httpx.Client:
    return httpx.Client(
        base_url=farm.endpoints.api_url,
        headers={"Authorization": f"Bearer {farm.endpoints.api_key}"},
        timeout=30,
    )


def wait_state(client: httpx.Client, job_id: str, states: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        status: dict[str, Any] = client.get(
            f"/api/jobs/{job_id}", params={"frames_limit": 0}
        ).json()
        if status["state"] in states:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.5)


def expected_by_tag(statuses: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each tag's sum of its jobs' costs, from their statuses."""
    sums: dict[str, dict[str, float]] = {}
    for status in statuses:
        cost = status["cost"]
        for tag in status["tags"]:
            line = sums.setdefault(tag, {"usd": 0.0, "worker_s": 0.0, "frames": 0})
            line["usd"] += cost["estimated_usd"]
            line["worker_s"] += cost["worker_seconds"]
            line["frames"] += status["frames_done"]
    return sums


def span() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}


def by_tag(groups: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {
        line["key"]: {"usd": line["usd"], "worker_s": line["worker_s"], "frames": line["frames"]}
        for line in groups
    }


def matches(found: dict[str, dict[str, float]], expected: dict[str, dict[str, float]]) -> bool:
    if sorted(found) != sorted(expected):
        return False
    return all(
        found[tag]["usd"] == pytest.approx(line["usd"], rel=1e-9)
        # Chunk records keep seconds to the millisecond, and so do the attempts' shares.
        and found[tag]["worker_s"] == pytest.approx(line["worker_s"], abs=1e-6)
        and found[tag]["frames"] == line["frames"]
        for tag, line in expected.items()
    )


@pytest.mark.timeout(300)
def test_usage_by_tag_equals_the_sum_of_its_jobs_costs_a_retried_chunk_included(
    usage_farm: RunningFarm, faults: Path, tmp_path: Path
) -> None:
    farm = usage_farm.farm
    scene = build_cycles_scene(tmp_path / "usage.blend")
    with FarmClient(api_url=farm.endpoints.api_url, api_key=farm.endpoints.api_key) as farm_api:
        sha, _ = farm_api.ensure_scene(scene)
    faults.write_text(str(FAULTY_FRAME), encoding="utf-8")
    base = {"scene_sha256": sha, "chunk_size": 1, "render": RENDER}
    jobs = {
        "a": {**base, "frames": "1-2", "tags": [SHARED, "usage=a"]},
        "b": {**base, "frames": "3-4", "tags": [SHARED, "usage=b"]},
        "retried": {**base, "frames": "5-7", "tags": [SHARED, "usage=retried"]},
    }
    with api(farm) as client:
        ids = {}
        for name, body in jobs.items():
            answer = client.post("/api/jobs", json=body)
            assert answer.status_code == 202, answer.text
            ids[name] = answer.json()["job_id"]
        failed = wait_state(client, ids["retried"], {"failed", "completed", "cancelled"})
        assert failed["state"] == "failed", failed["state"]
        faults.unlink()  # the cause is gone: the retry renders the failed chunk
        assert client.post(f"/api/jobs/{ids['retried']}/retry").status_code == 202
        statuses = [
            wait_state(client, job_id, {"completed", "failed", "cancelled"})
            for job_id in ids.values()
        ]
        assert [status["state"] for status in statuses] == ["completed"] * 3

        # The last attempts' usage is added just after they settle; the statuses' cost is read
        # from the same attempts' records. Read both until they agree, then compare once more.
        deadline = time.monotonic() + SETTLE_S
        while True:
            statuses = [
                client.get(f"/api/jobs/{job_id}", params={"frames_limit": 0}).json()
                for job_id in ids.values()
            ]
            expected = expected_by_tag(statuses)
            answer = client.get("/api/usage", params={**span(), "group_by": "tag"})
            assert answer.status_code == 200, answer.text
            found = by_tag(answer.json()["groups"])
            if matches(found, expected) or time.monotonic() > deadline:
                break
            time.sleep(1)
    assert sorted(found) == sorted(expected)
    for tag, line in expected.items():
        assert found[tag]["usd"] == pytest.approx(line["usd"], rel=1e-9), (tag, found, expected)
        assert found[tag]["worker_s"] == pytest.approx(line["worker_s"], abs=1e-6), tag
        assert found[tag]["frames"] == line["frames"], tag
    assert expected[SHARED]["frames"] == 7
    retried = statuses[2]
    assert max(chunk["attempts"] for chunk in retried["chunks"]) >= 2, retried["chunks"]

    cli = usage_farm.cli("usage", "--by", "tag", "--from", span()["from"], "--json")
    assert cli.code == 0, cli.stderr
    assert matches(by_tag(json.loads(cli.stdout)["groups"]), expected), cli.stdout
