"""Unit tests' fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from renderfarm_client.hash_cache import CACHE_DIR_ENV


@pytest.fixture(autouse=True)
def _hash_cache_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test's traces keep their hashes in a folder of their own, never the user's cache."""
    folder = tmp_path_factory.mktemp("hash-cache")
    monkeypatch.setenv(CACHE_DIR_ENV, str(folder))
    return folder
