"""Unit tests' fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from renderfarm_client.farm_api import sha256_of
from renderfarm_client.hash_cache import CACHE_DIR_ENV
from tests.projects import Project, build_project


@pytest.fixture(autouse=True)
def _hash_cache_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test's traces keep their hashes in a folder of their own, never the user's cache."""
    folder = tmp_path_factory.mktemp("hash-cache")
    monkeypatch.setenv(CACHE_DIR_ENV, str(folder))
    return folder


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files whose bytes the hash cache read to hash them, in the order it read them."""
    calls: list[Path] = []

    def counting(path: Path, **kwargs: Any) -> str:
        calls.append(path)
        return sha256_of(path, **kwargs)

    monkeypatch.setattr("renderfarm_client.hash_cache.sha256_of", counting)
    return calls


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The multi-file project (tests/projects.py), built once (bpy in a subprocess) for the
    trace tests; a test that changes it takes ``fresh``."""
    return build_project(tmp_path_factory.mktemp("built"))


@pytest.fixture
def fresh(built: Project, tmp_path: Path) -> Project:
    """A copy of the built project a test may change (its outside texture stays shared)."""
    shutil.copytree(built.root, tmp_path / "project")
    return Project(
        root=tmp_path / "project",
        main=tmp_path / "project" / built.main.name,
        textures={
            key: (tmp_path / "project" / built.project_path(path))
            if path.is_relative_to(built.root)
            else path
            for key, path in built.textures.items()
        },
        libraries={
            k: tmp_path / "project" / built.project_path(p) for k, p in built.libraries.items()
        },
        font=tmp_path / "project" / built.project_path(built.font),
        outside_dir=built.outside_dir,
    )
