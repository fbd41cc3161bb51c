"""The client's cache of file hashes: hits read no bytes, any change is a miss, never a failure."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from renderfarm_client.hash_cache import FILE_NAME, HashCache, cache_dir, user_cache

#: Longer than any file system clock's tick that a test runs on (ext4 on older kernels: ~4 ms).
_TICK_S = 0.05


def _cache(tmp_path: Path, **kwargs: int) -> HashCache:
    # No racy window: the tests' files were all written a moment ago.
    return HashCache(tmp_path / "cache" / FILE_NAME, racy_window_ns=0, **kwargs)


def _file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_unchanged_file_is_hashed_once(tmp_path: Path, hashed: list[Path]) -> None:
    texture = _file(tmp_path / "tex.png", b"pixels")
    cache = _cache(tmp_path)
    assert cache.sha256(texture) == (_digest(b"pixels"), 6)
    assert cache.sha256(texture) == (_digest(b"pixels"), 6)
    assert hashed == [texture.resolve()]
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


def test_the_cache_outlives_the_process_that_filled_it(tmp_path: Path, hashed: list[Path]) -> None:
    texture = _file(tmp_path / "tex.png", b"pixels")
    first = _cache(tmp_path)
    first.sha256(texture)
    first.close()
    assert _cache(tmp_path).sha256(texture) == (_digest(b"pixels"), 6)
    assert len(hashed) == 1


def test_a_write_of_the_same_size_with_the_mtime_put_back_is_a_miss(
    tmp_path: Path, hashed: list[Path]
) -> None:
    texture = _file(tmp_path / "tex.png", b"pixels")
    cache = _cache(tmp_path)
    cache.sha256(texture)
    before = texture.stat()
    time.sleep(_TICK_S)
    texture.write_bytes(b"PIXELS")
    os.utime(texture, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = texture.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert after.st_ctime_ns != before.st_ctime_ns
    assert cache.sha256(texture) == (_digest(b"PIXELS"), 6)
    assert len(hashed) == 2


def test_a_file_replaced_by_another_of_the_same_size_and_mtime_is_a_miss(
    tmp_path: Path, hashed: list[Path]
) -> None:
    """How Blender saves: a new file renamed over the old one (a new inode)."""
    texture = _file(tmp_path / "tex.png", b"pixels")
    cache = _cache(tmp_path)
    cache.sha256(texture)
    before = texture.stat()
    new = _file(tmp_path / "tex.png.tmp", b"PIXELS")
    os.utime(new, ns=(before.st_atime_ns, before.st_mtime_ns))
    new.replace(texture)
    assert cache.sha256(texture) == (_digest(b"PIXELS"), 6)
    assert len(hashed) == 2


def test_a_file_written_a_moment_ago_is_not_trusted_yet(tmp_path: Path, hashed: list[Path]) -> None:
    """Racily clean: a second write in the same clock tick would change no stat field."""
    texture = _file(tmp_path / "tex.png", b"pixels")
    cache = HashCache(tmp_path / FILE_NAME, racy_window_ns=60 * 1_000_000_000)
    cache.sha256(texture)
    cache.sha256(texture)
    assert len(hashed) == 2


def test_the_path_is_the_resolved_one(tmp_path: Path, hashed: list[Path]) -> None:
    texture = _file(tmp_path / "tex.png", b"pixels")
    cache = _cache(tmp_path)
    cache.sha256(texture)
    cache.sha256(tmp_path / "sub" / ".." / "tex.png")
    assert len(hashed) == 1


def test_a_corrupt_cache_is_started_anew(tmp_path: Path, hashed: list[Path]) -> None:
    texture = _file(tmp_path / "tex.png", b"pixels")
    cache_file = _file(tmp_path / "cache" / FILE_NAME, b"this is not a database " * 100)
    cache = _cache(tmp_path)
    assert cache.sha256(texture) == (_digest(b"pixels"), 6)
    assert cache.sha256(texture) == (_digest(b"pixels"), 6)
    assert len(hashed) == 1
    with sqlite3.connect(cache_file) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_cache_that_cannot_be_made_hashes_every_file(tmp_path: Path, hashed: list[Path]) -> None:
    texture = _file(tmp_path / "tex.png", b"pixels")
    blocker = _file(tmp_path / "not-a-folder", b"")
    cache = HashCache(blocker / FILE_NAME, racy_window_ns=0)
    assert cache.sha256(texture) == (_digest(b"pixels"), 6)
    assert cache.sha256(texture) == (_digest(b"pixels"), 6)
    assert len(hashed) == 2


def test_a_read_only_cache_still_answers_what_it_holds(tmp_path: Path, hashed: list[Path]) -> None:
    kept = _file(tmp_path / "kept.png", b"kept")
    other = _file(tmp_path / "other.png", b"other")
    filler = _cache(tmp_path)
    filler.sha256(kept)
    filler.close()
    uri = f"file:{tmp_path / 'cache' / FILE_NAME}?mode=ro"
    cache = _cache(tmp_path)
    cache._connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
    cache._opened = True
    assert cache.sha256(other) == (_digest(b"other"), 5)
    assert cache.sha256(kept) == (_digest(b"kept"), 4)
    assert cache.sha256(other) == (_digest(b"other"), 5)
    assert hashed == [kept.resolve(), other.resolve(), other.resolve()]


def test_old_rows_and_rows_past_the_cap_go_when_the_cache_opens(tmp_path: Path) -> None:
    files = [_file(tmp_path / f"tex{i}.png", bytes([i])) for i in range(5)]
    cache = _cache(tmp_path)
    for file in files:
        cache.sha256(file)
    cache.close()
    with sqlite3.connect(cache.path) as edit:
        edit.execute(
            "UPDATE hashes SET used = used - 100 * 24 * 3600 WHERE path = ?", (str(files[0]),)
        )
        for age, file in enumerate(reversed(files[1:])):
            edit.execute("UPDATE hashes SET used = used - ? WHERE path = ?", (age, str(file)))
    reopened = _cache(tmp_path, max_rows=3)
    reopened.sha256(files[1])  # the least recently used left: pruned on opening
    reopened.close()
    with sqlite3.connect(cache.path) as check:
        kept = {row[0] for row in check.execute("SELECT path FROM hashes")}
    assert kept == {str(file) for file in files[1:]}
    assert reopened.stats.misses == 1


def test_the_cache_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENDERFARM_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    assert user_cache().path == tmp_path / "mine" / FILE_NAME
    assert user_cache() is user_cache()
    monkeypatch.delenv("RENDERFARM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert cache_dir() == tmp_path / "xdg" / "renderfarm"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert cache_dir() == Path.home() / "Library" / "Caches" / "renderfarm"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert cache_dir() == tmp_path / "local" / "renderfarm"


def _fill(  # noqa: PLR0913 - keyword-only: a spawned process's arguments
    *, cache_path: str, folder: str, start: int, count: int, ready: Any, out: Any
) -> None:
    """In a process of its own: hash ``count`` files from ``start``, once both processes are
    ready, and put how many it hashed."""
    cache = HashCache(Path(cache_path), racy_window_ns=0)
    ready.wait()
    for i in range(start, start + count):
        cache.sha256(Path(folder) / f"tex{i:04d}.png")
    cache.close()
    out.put(cache.stats.misses)


def test_two_processes_filling_one_cache_at_once_leave_it_whole(tmp_path: Path) -> None:
    """WAL: readers never wait; each write is its own short transaction, and a writer waits
    (busy timeout) while the other writes."""
    for i in range(1500):
        _file(tmp_path / "files" / f"tex{i:04d}.png", os.urandom(64))
    cache_path = tmp_path / "cache" / FILE_NAME
    context = multiprocessing.get_context("spawn")
    ready, out = context.Barrier(2), context.Queue()
    workers = [
        context.Process(
            target=_fill,
            kwargs={
                "cache_path": str(cache_path),
                "folder": str(tmp_path / "files"),
                "start": start,
                "count": 1000,
                "ready": ready,
                "out": out,
            },
        )
        for start in (0, 500)
    ]
    for worker in workers:
        worker.start()
    misses = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
        assert worker.exitcode == 0
    # Each hashed its own 500 files and those of the shared 500 that the other had not kept yet.
    assert 1500 <= sum(misses) <= 2000
    with sqlite3.connect(cache_path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert check.execute("SELECT count(*) FROM hashes").fetchone() == (1500,)
    cache = HashCache(cache_path, racy_window_ns=0)
    for i in range(1500):
        cache.sha256(tmp_path / "files" / f"tex{i:04d}.png")
    assert (cache.stats.hits, cache.stats.misses) == (1500, 0)
