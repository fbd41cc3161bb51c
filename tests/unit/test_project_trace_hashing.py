"""What a trace reads to hash the project's files: nothing the hash cache knows unchanged, a file
rewritten with its size and mtime kept, only the artist's files kept in the default cache, and
every file when there is no cache."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from renderfarm_client.farm_api import sha256_of
from renderfarm_client.hash_cache import CACHE_DIR_ENV, FILE_NAME, HashCache
from renderfarm_client.project import TracedProject, trace_project
from tests.projects import Project


def _artists(traced: TracedProject) -> set[Path]:
    return {file.source.resolve() for file in traced.files if not file.rewritten}


def test_a_second_trace_of_an_unchanged_project_reads_no_file_to_hash_it(
    fresh: Project, tmp_path: Path, hashed: list[Path]
) -> None:
    # No racy window: the copy's files were all written a moment ago.
    cache = HashCache(tmp_path / FILE_NAME, racy_window_ns=0)
    with trace_project(fresh.main, hash_cache=cache) as first:
        assert sorted(hashed) == sorted(_artists(first))
    hashed.clear()
    with trace_project(fresh.main, hash_cache=cache) as second:
        assert hashed == []
        assert second.file_set() == first.file_set()
        assert cache.stats.hits == len(_artists(second))


def test_a_texture_rewritten_with_its_size_and_mtime_kept_is_hashed_again(
    fresh: Project, tmp_path: Path, hashed: list[Path]
) -> None:
    cache = HashCache(tmp_path / FILE_NAME, racy_window_ns=0)
    wood = fresh.textures["wood"]
    with trace_project(fresh.main, hash_cache=cache) as first:
        old = next(file for file in first.files if file.path == "textures/wood.png")
    hashed.clear()
    before = wood.stat()
    time.sleep(0.05)  # past the file system clock's tick, so the write moves ctime
    data = bytearray(wood.read_bytes())
    data[-1] ^= 0xFF
    wood.write_bytes(bytes(data))
    os.utime(wood, ns=(before.st_atime_ns, before.st_mtime_ns))
    with trace_project(fresh.main, hash_cache=cache) as second:
        new = next(file for file in second.files if file.path == "textures/wood.png")
    assert hashed == [wood.resolve()]
    assert (new.size, new.sha256) == (old.size, hashlib.sha256(data).hexdigest())
    assert new.sha256 != old.sha256


def test_the_default_cache_lives_in_the_renderfarm_cache_dir(
    built: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It keeps the artist's files only: BAT's rewritten copies are new files each time."""
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "mine"))
    monkeypatch.setattr(HashCache, "_racy", lambda _self, _stat: False)
    with trace_project(built.main) as traced:
        rewritten = {str(file.source) for file in traced.files if file.rewritten}
    with sqlite3.connect(tmp_path / "mine" / FILE_NAME) as check:
        kept = {row[0] for row in check.execute("SELECT path FROM hashes")}
    assert kept == {str(path) for path in _artists(traced)}
    assert not kept & rewritten


def test_tracing_without_a_cache_hashes_every_file(
    built: Project, hashed: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []

    def counting(path: Path, **kwargs: Any) -> str:
        calls.append(path)
        return sha256_of(path, **kwargs)

    monkeypatch.setattr("renderfarm_client.project.sha256_of", counting)
    with trace_project(built.main, hash_cache=None) as traced:
        assert sorted(calls) == sorted(file.source for file in traced.files)
    assert hashed == []
