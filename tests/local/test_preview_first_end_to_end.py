"""Preview-first order over the wire: the real API, Service Bus emulator, Azurite and one Blender
worker of the local farm. A 20-frame job in one-frame chunks lands its first, last and middle
frames before their neighbours, then fills the gaps coarse to fine. One worker takes one chunk at
a time, so the order frames land in is the order the queue handed the chunks out."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from renderfarm_client.cli.options import options_from, render_options
from renderfarm_client.farm_api import FarmClient
from renderfarm_local.farm_layout import FarmLayout, FarmPorts
from renderfarm_local.local_farm import LocalFarm
from testbed.scenes import build_cycles_scene
from tests.local.conftest import TEST_SCALING

WAIT_S = 100.0
FRAMES = 20
#: Tiny frames: the test is about order, not pixels.
RENDER = {"resolution_x": 64, "resolution_y": 48, "samples": 2}


@pytest.fixture(scope="module")
def one_worker_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFarm]:
    farm = LocalFarm(
        layout=FarmLayout(root=tmp_path_factory.mktemp("order-farm")),
        ports=FarmPorts.free(),
        scaling=replace(TEST_SCALING, max_replicas=1),  # one worker: one chunk in flight
    )
    farm.start()
    try:
        yield farm
    finally:
        farm.stop()


def landing_order(logs: Path, job_id: str) -> list[int]:
    """The job's frames in the order workers wrote them to Blob, from their "frame N uploaded"
    log lines (each logged as its upload commits)."""
    landed: list[tuple[datetime, int]] = []
    for log in logs.glob("worker*.log"):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.startswith("{") or job_id not in line:
                continue
            entry = json.loads(line)
            if entry.get("job_id") == job_id and entry.get("status") == "uploaded":
                landed.append((datetime.fromisoformat(entry["time"]), int(entry["frame"])))
    return [frame for _, frame in sorted(landed)]


@pytest.mark.local_farm
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_twenty_frame_job_lands_its_first_last_and_middle_frames_before_their_neighbours(
    one_worker_farm: LocalFarm, tmp_path: Path
) -> None:
    scene = build_cycles_scene(tmp_path / "order.blend")
    farm = one_worker_farm
    with FarmClient(api_url=farm.endpoints.api_url, api_key=farm.endpoints.api_key) as client:
        sha, _ = client.ensure_scene(scene)
        job = client.submit(
            {"scene_sha256": sha, "frames": f"1-{FRAMES}", "chunk_size": 1, "render": RENDER}
        )
        deadline = time.monotonic() + WAIT_S
        while not (progress := client.status(job.job_id, with_frames=False)).is_over:
            assert time.monotonic() < deadline, f"job {job.job_id} never ended: {progress}"
            time.sleep(0.5)
    assert progress.state == "completed", progress
    # Chunk numbers are still the frames' places in the shot: chunk n renders frame n + 1.
    assert [(c.index, c.frames_total) for c in progress.chunks] == [(n, 1) for n in range(FRAMES)]

    landed = landing_order(farm.layout.logs, job.job_id)
    assert sorted(landed) == list(range(1, FRAMES + 1)), landed
    position = {frame: at for at, frame in enumerate(landed)}
    assert set(landed[:3]) == {1, 20, 10}, landed
    for frame, neighbours in ((1, (2,)), (20, (19,)), (10, (9, 11))):
        assert all(position[frame] < position[n] for n in neighbours), landed
    # Then the gaps, halving: the quarters' middles before any frame next to one already there.
    assert set(landed[3:5]) == {5, 15}, landed


def test_the_cli_sends_the_order_it_is_given_and_leaves_the_default_to_the_farm() -> None:
    @click.command()
    @render_options
    def submit(**kwargs: Any) -> None:
        click.echo(json.dumps(options_from(**kwargs).job_body("a" * 64)))

    def body(*args: str) -> dict[str, Any]:
        result = CliRunner().invoke(submit, ["x.blend", "--frames", "1-20", *args])
        assert result.exit_code == 0, result.output
        sent: dict[str, Any] = json.loads(result.output)
        return sent

    assert "order" not in body()
    assert body("--order", "sequential")["order"] == "sequential"
    assert body("--order", "preview_first")["order"] == "preview_first"
    refused = CliRunner().invoke(submit, ["x.blend", "--frames", "1", "--order", "random"])
    assert refused.exit_code == 2
    assert "--order" in refused.output
