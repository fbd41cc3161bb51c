"""Projects (file sets) kept on local disk by tenant and content hash, laid out for Blender.

Each file of a tenant's projects sits once at ``<tenant>/files/<sha256>``, its name in Blob
Storage. Per tenant for the reason blend_cache.py gives: a hit is faster than a download, and a
tenant reads its chunks' worker seconds, so a cache shared by content would tell one tenant what
another rendered here lately. A download lands under a temporary name and is renamed only after
its hash checks out; the API checks only the sizes of the files that are not .blends, so this is
where a file whose bytes are wrong is caught. Such a file fails the chunk for good, named by its
project path, and its blob is deleted (if nobody replaced it meanwhile) so that the client's next
submit, which asks the API what is missing, uploads it again.

A job's project is laid out at ``<tenant>/jobs/<process>/<file set sha256>/<project path>`` with
hardlinks to the cached files (copies where the disk refuses links), and kept while chunks of the
same file set follow one another, so Blender keeps its main file open; laying out another file
set removes this process's other folders, and those of processes that have exited. The folders
are per process because replicas on one machine (the local farm) share the cache: one must never
remove a folder another's Blender is still reading its textures from, lazily, as it renders.
The cached files are made read-only: a link shares its file, and nothing Blender does in the job
folder may change the cache.

The least recently used files go first when the cache outgrows its cap; the files of the project
in use never do, even when they alone exceed it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from containerapp_worker.blend_cache import evict_least_recent, file_sha256
from containerapp_worker.errors import FileMismatch, FileNotStored, PoisonError, SceneError
from renderfarm.projects.file_set import FileEntry, FileSet, FileSetRef, path_problem
from renderfarm.shared import blob_layout
from renderfarm.shared.errors import DomainError

log = logging.getLogger(__name__)

#: Files downloaded at a time: enough to fill the pipe with small textures, few enough that a
#: replica's connections and disk are not swamped.
DOWNLOADS = 8
FILES = "files"
JOBS = "jobs"
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class ProjectStore(Protocol):
    """What the cache needs of Blob Storage (WorkerStorage in production)."""

    def download_file_set(self, sha256: str, *, tenant: str) -> bytes | None: ...
    def download_file(self, sha256: str, destination: Path, *, tenant: str) -> str | None: ...
    def delete_file(self, sha256: str, *, tenant: str, etag: str) -> bool: ...


@dataclass(frozen=True, kw_only=True)
class Project:
    """A job's project laid out on disk."""

    folder: Path  # the job folder: the project's root
    file_set: FileSet

    @property
    def main(self) -> Path:
        return self.folder / self.file_set.main


@dataclass(frozen=True, kw_only=True)
class _Fetched:
    """How fetching one file went: None for a file now in the cache."""

    entry: FileEntry
    problem: PoisonError | None = None


class ProjectCache:
    def __init__(
        self, directory: Path, *, max_bytes: int, store: ProjectStore, downloads: int = DOWNLOADS
    ) -> None:
        # Absolute: the job folder is cut from Blender's messages (which name absolute paths)
        # so that the client reads project paths.
        self._directory = directory.absolute()
        self._max_bytes = max_bytes
        self._store = store
        self._downloads = downloads
        #: The project this process laid out last, still on disk: the next chunk reuses it.
        self._current: tuple[str, Project] | None = None
        self._directory.mkdir(parents=True, exist_ok=True)

    @property
    def directory(self) -> Path:
        """The cache's folder: a folder of this replica, never shown to a client."""
        return self._directory

    def file_path(self, sha256: str, *, tenant: str) -> Path:
        """Where the tenant's file with this hash is cached."""
        try:
            return self._directory / blob_layout.file_blob(tenant, sha256)
        except ValueError as error:
            raise SceneError(f"cannot name a project file: {error}") from None

    def job_folder(self, ref: FileSetRef, *, tenant: str) -> Path:
        """Where the job's project is laid out: a sibling of the tenant's cached files."""
        try:
            blob_layout.file_set_blob(tenant, ref.sha256)  # checks the tenant and the hash
        except ValueError as error:
            raise SceneError(f"cannot name a project folder: {error}") from None
        return self._directory / tenant / JOBS / str(os.getpid()) / ref.sha256

    def lay_out(self, ref: FileSetRef, *, tenant: str) -> Project:
        """The job's project on disk, every file checked against its sha256."""
        folder = self.job_folder(ref, tenant=tenant)
        if self._current is not None and self._current[0] == tenant:
            project = self._current[1]
            if project.folder == folder and project.main.is_file():
                return project
        self._current = None
        file_set = self._file_set(ref, tenant=tenant)
        targets = _targets(folder, file_set)
        self._fetch_all(file_set, tenant=tenant)
        self._remove_job_folders()
        self._link(folder, targets, tenant=tenant)
        self.evict(keep={self.file_path(entry.sha256, tenant=tenant) for entry in file_set.files})
        project = Project(folder=folder, file_set=file_set)
        self._current = (tenant, project)
        return project

    # --- the file set -----------------------------------------------------------------------

    def _file_set(self, ref: FileSetRef, *, tenant: str) -> FileSet:
        body = self._store.download_file_set(ref.sha256, tenant=tenant)
        if body is None:
            raise FileNotStored("the job's file set is not stored")
        if hashlib.sha256(body).hexdigest() != ref.sha256:
            raise FileMismatch("the stored file set is not the one the job names")
        try:
            return FileSet.from_json(body)
        except (DomainError, ValueError, KeyError, TypeError) as error:  # FileSet.of's refusals
            raise SceneError(f"the job's file set is not valid: {error}") from None

    # --- files ------------------------------------------------------------------------------

    def _fetch_all(self, file_set: FileSet, *, tenant: str) -> None:
        by_hash: dict[str, FileEntry] = {}
        for entry in file_set.files:  # one download per content
            by_hash.setdefault(entry.sha256, entry)
        with ThreadPoolExecutor(
            max_workers=self._downloads, thread_name_prefix="project-download"
        ) as pool:
            fetched = list(
                pool.map(lambda entry: self._fetch(entry, tenant=tenant), by_hash.values())
            )
        _raise_problems(file_set, [item for item in fetched if item.problem is not None])

    def _fetch(self, entry: FileEntry, *, tenant: str) -> _Fetched:
        path = self.file_path(entry.sha256, tenant=tenant)
        if path.is_file():
            os.utime(path)  # mark as recently used
            return _Fetched(entry=entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.parent / f".{entry.sha256}.{uuid.uuid4().hex}.part"
        try:
            etag = self._store.download_file(entry.sha256, partial, tenant=tenant)
            if etag is None:
                return _Fetched(entry=entry, problem=FileNotStored("not stored"))
            if file_sha256(partial) != entry.sha256:
                deleted = self._store.delete_file(entry.sha256, tenant=tenant, etag=etag)
                log.warning(
                    "a project file's bytes do not match its sha256 (blob %s)",
                    "deleted" if deleted else "replaced meanwhile, kept",
                    extra={"tenant": tenant},
                )
                return _Fetched(entry=entry, problem=FileMismatch("wrong bytes"))
            partial.chmod(_READ_ONLY)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
        return _Fetched(entry=entry)

    # --- the job folder ---------------------------------------------------------------------

    def _link(self, folder: Path, targets: dict[Path, FileEntry], *, tenant: str) -> None:
        """Lay the project out in a temporary folder, then rename it into place: a crash
        mid-way never leaves a half project under the job folder's name."""
        partial = folder.parent / f".{folder.name}.{uuid.uuid4().hex}.part"
        try:
            for target, entry in targets.items():
                destination = partial / target.relative_to(folder)
                destination.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(self.file_path(entry.sha256, tenant=tenant), destination)
            partial.replace(folder)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def _remove_job_folders(self) -> None:
        """Every project this process laid out (any tenant's: one renders at a time), and those
        of processes that have exited; never another live replica's."""
        for owner in self._directory.glob(f"*/{JOBS}/*"):
            if owner.name == str(os.getpid()) or not _alive(owner.name):
                shutil.rmtree(owner, ignore_errors=True)

    def evict(self, *, keep: set[Path]) -> None:
        evict_least_recent(self._cached_files(), keep=keep, max_bytes=self._max_bytes)

    def _cached_files(self) -> list[Path]:
        return [
            entry
            for entry in self._directory.glob(f"*/{FILES}/*")
            if not entry.name.startswith(".") and entry.is_file()
        ]


def _targets(folder: Path, file_set: FileSet) -> dict[Path, FileEntry]:
    """Each file's place in the job folder. The paths were checked by the API, but the file set
    crossed a wire: each is checked again, and must stay inside the folder once resolved."""
    targets: dict[Path, FileEntry] = {}
    for entry in file_set.files:
        problem = path_problem(entry.path)
        if problem is not None:
            raise SceneError(f"the project path {entry.path!r} {problem}")
        target = Path(os.path.normpath(folder / entry.path))
        if not target.is_relative_to(folder) or target == folder:
            raise SceneError(f"the project path {entry.path!r} leaves the project's folder")
        targets[target] = entry
    return targets


def _link_or_copy(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError:  # another file system, or one without links
        shutil.copyfile(source, destination)


def _raise_problems(file_set: FileSet, failed: list[_Fetched]) -> None:
    """One error naming every file that failed by its project paths (every path with those
    bytes), never by its hash or its place on this replica; wrong bytes first."""
    for kind, text in (
        (FileMismatch, "files are not the bytes the job names (submit it again to upload them)"),
        (FileNotStored, "files the job names are not stored (submit it again to upload them)"),
    ):
        hashes = {item.entry.sha256 for item in failed if isinstance(item.problem, kind)}
        paths = [entry.path for entry in file_set.files if entry.sha256 in hashes]
        if paths:
            raise kind(f"{text}: {', '.join(paths)}")


def _alive(pid: str) -> bool:
    """Whether the process that laid out a folder still runs (a folder not named by a process
    id is stale)."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True
