"""The worker's project cache: per tenant, content-addressed, verified, bounded, laid out."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from containerapp_worker.blend_cache import PROJECTS, BlendCache
from containerapp_worker.errors import FileMismatch, FileNotStored, SceneError
from containerapp_worker.project_cache import ProjectCache
from renderfarm.projects.file_set import FileEntry, FileSet, FileSetRef


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class MemoryStore:
    """Blob Storage's scenes container as the cache sees it (ProjectStore): tenant -> hash ->
    (bytes, etag), and the file sets' JSON."""

    files: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    file_sets: dict[tuple[str, str], bytes] = field(default_factory=dict)
    downloads: list[tuple[str, str]] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, tenant: str, data: bytes, *, named: str | None = None) -> str:
        """Store ``data`` under its hash, or under ``named`` (bytes that do not match it)."""
        key = named or sha(data)
        self.files[(tenant, key)] = (data, f"etag-{len(self.files)}")
        return key

    def put_set(self, tenant: str, file_set: FileSet) -> FileSetRef:
        self.file_sets[(tenant, file_set.sha256)] = file_set.to_json().encode()
        return file_set.ref()

    def download_file_set(self, sha256: str, *, tenant: str) -> bytes | None:
        return self.file_sets.get((tenant, sha256))

    def download_file(self, sha256: str, destination: Path, *, tenant: str) -> str | None:
        with self.lock:
            self.downloads.append((tenant, sha256))
        stored = self.files.get((tenant, sha256))
        if stored is None:
            return None
        destination.write_bytes(stored[0])
        return stored[1]

    def delete_file(self, sha256: str, *, tenant: str, etag: str) -> bool:
        stored = self.files.get((tenant, sha256))
        if stored is None or stored[1] != etag:
            return False
        del self.files[(tenant, sha256)]
        self.deleted.append((tenant, sha256))
        return True


def project(store: MemoryStore, tenant: str, files: dict[str, bytes]) -> FileSetRef:
    entries = [
        FileEntry(path=p, sha256=store.put(tenant, d), size=len(d)) for p, d in files.items()
    ]
    return store.put_set(tenant, FileSet.of(main="shot.blend", files=entries))


SHOT = {
    "shot.blend": b"BLENDER main file",
    "textures/wood/oak.png": b"oak pixels",
    "lib/props.blend": b"BLENDER library",
}


def test_a_project_is_laid_out_in_its_own_folder_with_its_nested_paths(tmp_path: Path) -> None:
    store = MemoryStore()
    ref = project(store, "acme", SHOT)
    laid = ProjectCache(tmp_path, max_bytes=10_000, store=store).lay_out(ref, tenant="acme")
    assert laid.folder == tmp_path / "acme" / "jobs" / str(os.getpid()) / ref.sha256
    assert laid.main == laid.folder / "shot.blend"
    for path, data in SHOT.items():
        assert (laid.folder / path).read_bytes() == data
        cached = tmp_path / "acme" / "files" / sha(data)
        assert (laid.folder / path).stat().st_ino == cached.stat().st_ino, "a hardlink"


def test_each_file_is_downloaded_once_and_the_layout_is_kept_across_chunks(tmp_path: Path) -> None:
    store = MemoryStore()
    ref = project(store, "acme", SHOT)
    cache = ProjectCache(tmp_path, max_bytes=10_000, store=store)
    first = cache.lay_out(ref, tenant="acme")
    marker = (first.folder / "shot.blend").stat().st_ino
    second = cache.lay_out(ref, tenant="acme")
    assert second == first
    assert (second.folder / "shot.blend").stat().st_ino == marker
    assert len(store.downloads) == len(SHOT)
    # A new process (a new cache object) lays it out again from the files on disk.
    ProjectCache(tmp_path, max_bytes=10_000, store=store).lay_out(ref, tenant="acme")
    assert len(store.downloads) == len(SHOT)


def test_a_file_whose_bytes_differ_from_its_hash_fails_naming_its_path_and_is_deleted(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    good = {"shot.blend": b"main", "textures/checker.png": b"checker"}
    entries = [FileEntry(path=p, sha256=store.put("acme", d), size=len(d)) for p, d in good.items()]
    claimed = sha(b"the real checker")
    store.put("acme", b"a corrupt upload", named=claimed)
    entries[1] = FileEntry(path="textures/checker.png", sha256=claimed, size=16)
    ref = store.put_set("acme", FileSet.of(main="shot.blend", files=entries))

    with pytest.raises(FileMismatch) as raised:
        ProjectCache(tmp_path, max_bytes=10_000, store=store).lay_out(ref, tenant="acme")

    assert raised.value.reason == "FileMismatch"
    assert "textures/checker.png" in raised.value.description
    assert claimed not in raised.value.description and str(tmp_path) not in str(raised.value)
    assert store.deleted == [("acme", claimed)]
    assert not (tmp_path / "acme" / "files" / claimed).exists()
    assert not any(p.name.endswith(".part") for p in tmp_path.rglob("*")), "no partial left"


def test_a_file_the_set_names_but_blob_lacks_fails_naming_it(tmp_path: Path) -> None:
    store = MemoryStore()
    ref = project(store, "acme", SHOT)
    del store.files[("acme", sha(SHOT["textures/wood/oak.png"]))]
    with pytest.raises(FileNotStored, match=r"textures/wood/oak\.png"):
        ProjectCache(tmp_path, max_bytes=10_000, store=store).lay_out(ref, tenant="acme")


def test_a_file_set_whose_bytes_are_not_the_ones_the_job_names_is_refused(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    ref = project(store, "acme", SHOT)
    store.file_sets[("acme", ref.sha256)] = b'{"main": "other.blend"}'
    with pytest.raises(FileMismatch, match="file set"):
        ProjectCache(tmp_path, max_bytes=10_000, store=store).lay_out(ref, tenant="acme")


def test_another_tenants_cached_files_are_never_used(tmp_path: Path) -> None:
    store = MemoryStore()
    ref = project(store, "acme", SHOT)
    cache = ProjectCache(tmp_path, max_bytes=10_000, store=store)
    cache.lay_out(ref, tenant="acme")
    # globex names the same bytes (it learnt acme's hashes) but never uploaded them.
    store.file_sets[("globex", ref.sha256)] = store.file_sets[("acme", ref.sha256)]
    with pytest.raises(FileNotStored):
        cache.lay_out(ref, tenant="globex")
    assert {tenant for tenant, _ in store.downloads} == {"acme", "globex"}
    assert not any((tmp_path / "globex" / "files").glob("[0-9a-f]*"))


def test_a_path_that_leaves_the_project_folder_is_refused(tmp_path: Path) -> None:
    store = MemoryStore()
    data = b"main"
    key = store.put("acme", data)
    body = json.dumps(
        {
            "main": "shot.blend",
            "files": [
                {"path": "shot.blend", "sha256": key, "size": 4},
                {"path": "../../escape.png", "sha256": key, "size": 4},
            ],
            "missing": [],
        }
    ).encode()
    ref = FileSetRef(sha256=sha(body), main="shot.blend", files=2, bytes=8)
    store.file_sets[("acme", ref.sha256)] = body
    with pytest.raises(SceneError, match="climbs out"):
        ProjectCache(tmp_path, max_bytes=10_000, store=store).lay_out(ref, tenant="acme")
    assert not (tmp_path / "escape.png").exists()
    assert not list(tmp_path.rglob("escape.png"))


def age(folder: Path, at: float) -> None:
    """Mark every file just used (this second) as used at ``at`` instead."""
    for path in folder.iterdir():
        if path.stat().st_mtime > at + 1_000_000:
            os.utime(path, (at, at))


def test_the_least_recently_used_files_go_first_when_the_cache_is_full(tmp_path: Path) -> None:
    store = MemoryStore()
    cache = ProjectCache(tmp_path, max_bytes=250, store=store)
    cached = tmp_path / "acme" / "files"
    old = project(store, "acme", {"shot.blend": b"o" * 100})
    recent = project(store, "acme", {"shot.blend": b"r" * 100})
    cache.lay_out(old, tenant="acme")
    age(cached, 1_000)
    cache.lay_out(recent, tenant="acme")
    age(cached, 2_000)

    laid = cache.lay_out(project(store, "acme", {"shot.blend": b"n" * 100}), tenant="acme")

    assert not (cached / sha(b"o" * 100)).exists()
    assert (cached / sha(b"r" * 100)).exists()
    assert laid.main.read_bytes() == b"n" * 100
    assert [p.name for p in laid.folder.parent.iterdir()] == [laid.folder.name], (
        "the other projects' folders are removed"
    )


def test_a_replica_never_removes_the_project_another_live_replica_renders(
    tmp_path: Path,
) -> None:
    """Replicas on one machine share the cache (the local farm): another's Blender may still
    be reading textures from its folder, lazily, as it renders."""
    store = MemoryStore()
    other_replica = tmp_path / "acme" / "jobs" / str(os.getppid()) / ("a" * 64)
    other_replica.mkdir(parents=True)
    exited_replica = tmp_path / "acme" / "jobs" / "999999999" / ("b" * 64)
    exited_replica.mkdir(parents=True)
    cache = ProjectCache(tmp_path, max_bytes=10_000, store=store)

    cache.lay_out(project(store, "acme", {"shot.blend": b"s" * 10}), tenant="acme")
    cache.lay_out(project(store, "acme", {"shot.blend": b"t" * 10}), tenant="acme")

    assert other_replica.is_dir()
    assert not exited_replica.exists()


def test_the_files_of_the_project_in_use_are_kept_even_beyond_the_cap(tmp_path: Path) -> None:
    store = MemoryStore()
    cache = ProjectCache(tmp_path, max_bytes=10, store=store)
    laid = cache.lay_out(project(store, "acme", SHOT), tenant="acme")
    for path, data in SHOT.items():
        assert (laid.folder / path).read_bytes() == data
        assert (tmp_path / "acme" / "files" / sha(data)).exists()


def test_the_scene_cache_never_evicts_a_projects_laid_out_blend_files(tmp_path: Path) -> None:
    store = MemoryStore()
    ref = project(store, "acme", SHOT)
    laid = ProjectCache(tmp_path / PROJECTS, max_bytes=10_000, store=store).lay_out(
        ref, tenant="acme"
    )
    scene = b"a one-file scene"

    def download(path: Path) -> None:
        path.write_bytes(scene)

    BlendCache(tmp_path, max_bytes=1).get(sha(scene), download, tenant="acme")
    assert (laid.folder / "lib" / "props.blend").exists()
    assert laid.main.exists()
