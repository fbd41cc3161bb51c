"""Two Blender pools in one local farm: a scene saved by Blender 4.5 renders on the 4.5 pool
(its own venv, Python 3.11) and one saved by 5.3 on the 5.3 pool, each status naming the full
version of the Blender that rendered it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from renderfarm_client.farm_api import FarmClient, JobProgress
from renderfarm_local.farm_layout import FarmLayout, FarmPorts
from renderfarm_local.local_farm import LocalFarm
from renderfarm_local.pools import local_pools
from testbed.scenes import build_cycles_scene
from tests.blend_files import blender_python
from tests.local.conftest import TEST_SCALING

pytestmark = [pytest.mark.local_farm, pytest.mark.slow]
WAIT_S = 90.0


@pytest.fixture(scope="module")
def two_pool_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFarm]:
    blender_python("4.5")  # fails with `make blender-4.5` when the pool's venv is missing
    farm = LocalFarm(
        layout=FarmLayout(root=tmp_path_factory.mktemp("two-pool-farm")),
        ports=FarmPorts.free(),
        scaling=replace(TEST_SCALING, max_replicas=1),  # two Blenders on two cores at most
        pools=local_pools("5.3,4.5"),
    )
    farm.start()
    try:
        yield farm
    finally:
        farm.stop()


def render(farm: LocalFarm, scene: Path) -> JobProgress:
    with FarmClient(api_url=farm.endpoints.api_url, api_key=farm.endpoints.api_key) as client:
        sha, _ = client.ensure_scene(scene)
        job = client.submit({"scene_sha256": sha, "frames": "1-3", "chunk_size": 3})
        deadline = time.monotonic() + WAIT_S
        while True:
            progress = client.status(job.job_id)
            if progress.is_over or time.monotonic() > deadline:
                return progress
            time.sleep(0.5)


@pytest.mark.parametrize("version", ["4.5", "5.3"])
def test_a_scene_renders_on_the_pool_of_the_blender_that_saved_it(
    two_pool_farm: LocalFarm, tmp_path: Path, version: str
) -> None:
    scene = build_cycles_scene(
        tmp_path / f"saved-by-{version}.blend", python=blender_python(version)
    )
    progress = render(two_pool_farm, scene)
    assert progress.state == "completed", progress
    assert sorted(progress.frame_urls) == [1, 2, 3]
    assert progress.blender == version
    (rendered_by,) = progress.rendered_by
    assert rendered_by.startswith(f"{version}."), rendered_by
    assert {chunk.blender_version for chunk in progress.chunks} == {rendered_by}
