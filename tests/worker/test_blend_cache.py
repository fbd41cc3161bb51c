"""The worker's scene cache: content-addressed, verified, bounded."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from containerapp_worker.blend_cache import BlendCache
from containerapp_worker.errors import SceneError


def writer(data: bytes, calls: list[Path]) -> Callable[[Path], None]:
    def download(path: Path) -> None:
        calls.append(path)
        path.write_bytes(data)

    return download


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_scene_is_downloaded_once_and_then_served_from_disk(tmp_path: Path) -> None:
    cache = BlendCache(tmp_path, max_bytes=10_000)
    data = b"scene-a" * 10
    calls: list[Path] = []
    first = cache.get(sha(data), writer(data, calls))
    second = cache.get(sha(data), writer(data, calls))
    assert first == second == tmp_path / f"{sha(data)}.blend"
    assert first.read_bytes() == data
    assert len(calls) == 1


def test_a_download_whose_hash_differs_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    cache = BlendCache(tmp_path, max_bytes=10_000)
    with pytest.raises(SceneError, match="sha256"):
        cache.get(sha(b"what the job names"), writer(b"something else", []))
    assert list(tmp_path.iterdir()) == []


def test_the_least_recently_used_scenes_go_first_when_the_cache_is_full(tmp_path: Path) -> None:
    cache = BlendCache(tmp_path, max_bytes=250)
    old, recent, new = b"o" * 100, b"r" * 100, b"n" * 100
    for index, data in enumerate((old, recent)):
        path = cache.get(sha(data), writer(data, []))
        os.utime(path, (1_000 + index, 1_000 + index))
    cache.get(sha(recent), writer(recent, []))  # used again: now the most recent
    cache.get(sha(new), writer(new, []))
    assert not cache.path(sha(old)).exists()
    assert cache.path(sha(recent)).exists()
    assert cache.path(sha(new)).exists()


def test_the_scene_in_use_is_kept_even_when_it_alone_exceeds_the_cap(tmp_path: Path) -> None:
    cache = BlendCache(tmp_path, max_bytes=10)
    data = b"x" * 100
    path = cache.get(sha(data), writer(data, []))
    assert path.exists()
