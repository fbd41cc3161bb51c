"""The Blender pools the local farm can run, and the guards that keep the pool files, the
Makefile, the project's venv and the worker's code in step."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from containerapp_worker.app import NORMAL_IDLE_SHARE, WrongPool, idle_shares, worker_queues
from renderfarm.shared.settings import Settings
from renderfarm_local.pools import (
    DEFAULT_BLENDER,
    POOLS_DIR,
    PoolUnavailable,
    known_versions,
    local_pools,
)
from renderfarm_local.services import REPO
from tests.blend_files import blender_python

#: Every package the worker image copies: each Blender pool's Python must run them.
WORKER_PACKAGES = ("renderfarm", "renderfarm_azure", "containerapp_worker")


def settings(**fields: str) -> Settings:
    return Settings(
        storage_connection_string="UseDevelopmentStorage=true",
        servicebus_connection_string="Endpoint=sb://127.0.0.1;SharedAccessKeyName=k;SharedAccessKey=v",
        **fields,  # type: ignore[arg-type]
    )


def test_the_farm_knows_the_pools_it_has_files_for() -> None:
    assert known_versions() == ("4.5", "5.3")


def test_every_pool_file_names_its_python_and_pins_its_bpy() -> None:
    for path in POOLS_DIR.glob("*.txt"):
        text = path.read_text()
        assert re.search(r"^# python: 3\.\d+$", text, re.M), path
        assert re.search(rf"^bpy=={re.escape(path.stem)}\.\d+$", text, re.M), path


def test_the_default_pool_is_the_one_the_project_venv_and_the_makefile_carry() -> None:
    assert (
        f"-r containerapp_worker/blender-pools/{DEFAULT_BLENDER}.txt"
        in (REPO / "requirements-dev.txt").read_text()
    )
    assert f"DEFAULT_BLENDER := {DEFAULT_BLENDER}" in (REPO / "Makefile").read_text()
    (pool,) = local_pools(DEFAULT_BLENDER)
    assert pool.python == Path(sys.executable)


def test_a_pool_the_farm_has_no_file_for_is_refused_naming_the_ones_it_has() -> None:
    with pytest.raises(
        PoolUnavailable, match=r"no Blender 4\.2 pool: this farm can run 4\.5, 5\.3"
    ):
        local_pools("5.3,4.2")


@pytest.mark.parametrize("text", ["", "5.3,", "five", "5.3.0"])
def test_a_garbled_blender_option_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(PoolUnavailable, match="--blender"):
        local_pools(text)


def test_a_worker_serves_its_own_blenders_pool_unless_told_otherwise() -> None:
    assert worker_queues(settings(), "5.3.0") == (
        "render-chunks-5.3-high",
        "render-chunks-5.3",
        "render-chunks-5.3-low",
    )
    assert worker_queues(settings(queue_prefix="chunks"), "4.5.15") == (
        "chunks-4.5-high",
        "chunks-4.5",
        "chunks-4.5-low",
    )
    assert worker_queues(settings(queue_name="scale-test"), "5.3.0") == ("scale-test",)


def test_an_idle_worker_waits_longest_on_its_pools_normal_band() -> None:
    normal = NORMAL_IDLE_SHARE
    assert idle_shares(settings(), worker_queues(settings(), "5.3.0")) == (1.0, normal, 1.0)
    gpu = ("render-chunks-5.3-gpu-high", "render-chunks-5.3-gpu", "render-chunks-5.3-gpu-low")
    assert idle_shares(settings(), gpu) == (1.0, normal, 1.0)
    assert idle_shares(settings(), ("scale-test",)) == (1.0,)


def test_a_worker_refuses_to_serve_another_blenders_pool() -> None:
    with pytest.raises(WrongPool, match=r"render-chunks-4\.5 is Blender 4\.5's pool"):
        worker_queues(settings(queue_name="render-chunks-4.5"), "5.3.0")


def test_the_worker_code_compiles_on_every_pools_python() -> None:
    for version in known_versions():
        done = subprocess.run(
            [str(blender_python(version)), "-m", "compileall", "-q", *WORKER_PACKAGES],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"Blender {version}'s Python: {done.stdout}{done.stderr}"
