"""Unit tests' fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from renderfarm_client.farm_api import sha256_of
from renderfarm_client.hash_cache import CACHE_DIR_ENV


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
