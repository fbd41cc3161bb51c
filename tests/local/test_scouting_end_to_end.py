"""A scouted job through the whole local farm: ``renderfarm submit --scout`` renders the first,
middle and last frames, prints the quote and leaves the job waiting (no terminal, no --yes);
``renderfarm approve`` renders the rest, without rendering a scout frame again, and the job ends
completed with what it cost beside the estimate."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from renderfarm_client.cli.quotes import EXIT_AWAITING_APPROVAL
from testbed.scenes import build_cycles_scene
from tests.local.conftest import CliResult, RunningFarm

pytestmark = [pytest.mark.local_farm, pytest.mark.slow]
FRAMES = range(1, 7)
SCOUTS = (1, 3, 6)  # the first, the middle and the last of 1-6
WAIT_S = 90.0


@dataclass(frozen=True, kw_only=True)
class Scouted:
    job_id: str
    submitted: CliResult


def job_status(farm: RunningFarm, job_id: str) -> dict[str, Any]:
    endpoints = farm.farm.endpoints
    answer = httpx.get(
        f"{endpoints.api_url}/api/jobs/{job_id}",
        headers={"Authorization": f"Bearer {endpoints.api_key}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    status: dict[str, Any] = answer.json()
    return status


def uploads(farm: RunningFarm, job_id: str) -> Counter[int]:
    """How often each of the job's frames was uploaded, from every worker's log."""
    counted: Counter[int] = Counter()
    for log in farm.farm.layout.logs.glob("worker*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if job_id not in line or not line.startswith("{"):
                continue
            record = json.loads(line)
            if record.get("job_id") == job_id and record.get("status") == "uploaded":
                counted[int(record["frame"])] += 1
    return counted


@pytest.fixture(scope="module")
def scouted(local_farm: RunningFarm, tmp_path_factory: pytest.TempPathFactory) -> Scouted:
    scene = build_cycles_scene(tmp_path_factory.mktemp("scenes") / "scouted.blend")
    submitted = local_farm.cli(
        "submit", str(scene), "--frames", "1-6", "--chunk-size", "2", "--scout"
    )
    found = re.search(r"approve ([0-9a-f]{32})", submitted.stdout)
    assert found is not None, submitted.stdout + submitted.stderr
    return Scouted(job_id=found[1], submitted=submitted)


def test_submit_scout_renders_three_frames_prints_the_quote_and_the_job_waits(
    local_farm: RunningFarm, scouted: Scouted
) -> None:
    result = scouted.submitted
    assert result.code == EXIT_AWAITING_APPROVAL, result.stderr
    assert re.search(r"^\s+estimate\s+\$\d+\.\d+", result.stdout, re.MULTILINE), result.stdout
    assert "not approved: no terminal to ask on and no --yes" in result.stdout
    assert f"renderfarm approve {scouted.job_id}" in result.stdout
    status = job_status(local_farm, scouted.job_id)
    quote = status["quote"]
    assert (status["state"], quote["decision"]) == ("awaiting_approval", "pending")
    assert status["frames_done"] == len(SCOUTS)
    assert [frame["frame"] for frame in quote["scout_frames"]] == list(SCOUTS)
    assert all(frame["seconds"] > 0 for frame in quote["scout_frames"])
    assert quote["estimated_usd"] > 0
    assert datetime.fromisoformat(quote["estimated_finish_at"]) > datetime.now(UTC)
    assert sorted(uploads(local_farm, scouted.job_id)) == list(SCOUTS)


def test_approve_renders_the_rest_without_the_scout_frames_and_shows_the_actual_cost(
    local_farm: RunningFarm, scouted: Scouted
) -> None:
    approved = local_farm.cli("approve", scouted.job_id)
    assert approved.code == 0, approved.stderr
    assert re.search(rf"job {scouted.job_id}: (queued|rendering)", approved.stdout)
    deadline = time.monotonic() + WAIT_S
    status = job_status(local_farm, scouted.job_id)
    while status["state"] not in {"completed", "failed", "cancelled"}:
        assert time.monotonic() < deadline, status["state"]
        time.sleep(0.5)
        status = job_status(local_farm, scouted.job_id)
    assert status["state"] == "completed", status
    assert status["frames_done"] == len(FRAMES)
    # Every frame uploaded once: the planned chunks found the scout frames in Blob.
    assert uploads(local_farm, scouted.job_id) == Counter(dict.fromkeys(FRAMES, 1))
    quote = status["quote"]
    assert quote["decision"] == "approved"
    assert quote["actual_usd"] > 0
    assert quote["actual_to_estimate"] == pytest.approx(
        quote["actual_usd"] / quote["estimated_usd"], rel=1e-3
    )


def test_submit_scout_yes_approves_without_asking_and_waits_for_the_frames(
    local_farm: RunningFarm, tmp_path: Path
) -> None:
    scene = build_cycles_scene(tmp_path / "yes.blend")
    out = tmp_path / "out"
    result = local_farm.cli(
        "submit",
        str(scene),
        "--frames",
        "1-3",
        "--scout-frames",
        "2",
        "--yes",
        "--wait",
        "--out",
        str(out),
    )
    assert result.code == 0, result.stdout + result.stderr
    assert "approved: the rest of job" in result.stdout
    assert sorted(path.name for path in (out / "frames").iterdir()) == [
        f"{frame:06d}.png" for frame in (1, 2, 3)
    ]
