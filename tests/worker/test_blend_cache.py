"""The worker's scene cache: per tenant, content-addressed, verified, bounded."""

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
    first = cache.get(sha(data), writer(data, calls), tenant="acme")
    second = cache.get(sha(data), writer(data, calls), tenant="acme")
    assert first == second == tmp_path / "acme" / f"{sha(data)}.blend"
    assert first.read_bytes() == data
    assert len(calls) == 1


def test_a_download_whose_hash_differs_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    cache = BlendCache(tmp_path, max_bytes=10_000)
    with pytest.raises(SceneError, match="sha256"):
        cache.get(sha(b"what the job names"), writer(b"something else", []), tenant="acme")
    assert list(tmp_path.rglob("*.*")) == []


def test_the_least_recently_used_scenes_go_first_when_the_cache_is_full(tmp_path: Path) -> None:
    cache = BlendCache(tmp_path, max_bytes=250)
    old, recent, new = b"o" * 100, b"r" * 100, b"n" * 100
    for index, data in enumerate((old, recent)):
        path = cache.get(sha(data), writer(data, []), tenant="acme")
        os.utime(path, (1_000 + index, 1_000 + index))
    cache.get(sha(recent), writer(recent, []), tenant="acme")  # used again: now the most recent
    cache.get(sha(new), writer(new, []), tenant="globex")  # evicts across tenants
    assert not cache.path(sha(old), tenant="acme").exists()
    assert cache.path(sha(recent), tenant="acme").exists()
    assert cache.path(sha(new), tenant="globex").exists()


def test_the_scene_in_use_is_kept_even_when_it_alone_exceeds_the_cap(tmp_path: Path) -> None:
    cache = BlendCache(tmp_path, max_bytes=10)
    data = b"x" * 100
    path = cache.get(sha(data), writer(data, []), tenant="acme")
    assert path.exists()


def test_the_same_bytes_are_cached_once_per_tenant(tmp_path: Path) -> None:
    """A hit is faster than a download, and a tenant reads its chunks' worker seconds: a shared
    file would tell one tenant that another rendered the same scene here lately."""
    cache = BlendCache(tmp_path, max_bytes=10_000)
    data = b"the same scene" * 10
    calls: list[Path] = []
    acme = cache.get(sha(data), writer(data, calls), tenant="acme")
    globex = cache.get(sha(data), writer(data, calls), tenant="globex")
    assert acme != globex
    assert len(calls) == 2


def test_a_tenant_that_cannot_name_a_file_is_a_scene_error(tmp_path: Path) -> None:
    cache = BlendCache(tmp_path / "cache", max_bytes=10_000)
    data = b"scene"
    with pytest.raises(SceneError, match="tenant"):
        cache.get(sha(data), writer(data, []), tenant="../escape")
    assert list(tmp_path.rglob("*.*")) == []


def test_files_of_the_flat_layout_are_evicted_too(tmp_path: Path) -> None:
    cache = BlendCache(tmp_path, max_bytes=150)
    flat = tmp_path / f"{sha(b'old')}.blend"
    flat.write_bytes(b"o" * 100)
    os.utime(flat, (1_000, 1_000))
    data = b"n" * 100
    cache.get(sha(data), writer(data, []), tenant="acme")
    assert not flat.exists()
