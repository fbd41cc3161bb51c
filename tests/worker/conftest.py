"""Fixtures for the Blender-side tests: one runner per test process, as in a worker replica."""

from __future__ import annotations

from pathlib import Path

import pytest

from containerapp_worker.blender_runner import BlenderRunner
from testbed import scenes


@pytest.fixture(scope="session")
def runner() -> BlenderRunner:
    return BlenderRunner()


@pytest.fixture(scope="session")
def cycles_blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scenes.build_cycles_scene(tmp_path_factory.mktemp("scenes") / "cycles.blend")
