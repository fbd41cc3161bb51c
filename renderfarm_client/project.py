"""A .blend and everything it needs, as a file set: each file's project path, bytes, sha256, size.

Dependencies are traced recursively with blender-asset-tracer 1.23 (BAT: pure Python, reads
.blend files without Blender): linked libraries and their own textures, images, UDIM tiles,
image sequences, fonts, sounds, movie clips, Alembic/USD caches, OpenVDB volumes, point caches.
The CLI and the add-on both use this module; BAT is its only dependency outside the standard
library (the add-on bundles its wheel).

Files outside the project root (absolute paths, paths that climb out, other drives, UNC shares)
go under ``_outside/`` in the set, and the .blend files that use them must then say so: BAT
writes *copies* of those .blend files with the paths rewritten (the artist's files are never
modified), and those copies are what is uploaded. Rewriting happens here, on the client, so that
the worker only lays bytes out and checks their hashes; what is uploaded is exactly what renders;
and since the rewrite is deterministic, a re-submit hashes to the same files and uploads nothing.
"""

from __future__ import annotations

import gzip
import logging
import pathlib
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import zstandard
from blender_asset_tracer import blendfile, bpathlib
from blender_asset_tracer.pack import Packer, transfer

from . import bat_compat
from .farm_api import FarmError, sha256_of
from .hash_cache import USER_CACHE, HashCache, UserCache, user_cache

#: The folder of a file set for files from outside the project root: the value of
#: ``renderfarm.projects.file_set.OUTSIDE_ROOT`` (the client core does not import the domain
#: package).
OUTSIDE_ROOT = "_outside"
#: UNC shares (``\\server\share\...``) go under ``_outside/unc/server/share/...``.
UNC_FOLDER = "unc"
#: Files hashed at once: enough to keep a disk and a few cores busy, bounded for a laptop.
HASH_WORKERS = 4
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:([\\/]|$)")
_DRIVE_PART = re.compile(r"[A-Za-z]:")
#: Where BAT would put its pack; never written (only a root to compute paths against).
_LAYOUT = "layout"
_REWRITTEN = "rewritten"
_INFO_FILE = "pack-info.txt"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: zstd's default level: Blender's own saves compress about as much.
ZSTD_LEVEL = 3
_COPY_BLOCK = 1024 * 1024

__all__ = [
    "OUTSIDE_ROOT",
    "MissingFile",
    "ProjectError",
    "ProjectFile",
    "TracedProject",
    "bat_compat",
    "outside_path",
    "trace_project",
]

#: BAT logs each missing file as a warning; this module reports them itself, in the user's words.
logging.getLogger("blender_asset_tracer").addHandler(logging.NullHandler())


class ProjectError(FarmError):
    """The project cannot be traced (not a .blend, outside its root, unreadable)."""


@dataclass(frozen=True, kw_only=True)
class ProjectFile:
    """One file of the project: its path in the set and where its bytes are read from."""

    path: str
    #: The artist's file, or BAT's rewritten copy of a .blend (in the project's staging folder).
    source: Path
    sha256: str
    size: int
    #: True when ``source`` is a rewritten copy of a .blend, not the artist's file.
    rewritten: bool = False

    def entry(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True, kw_only=True)
class MissingFile:
    """A file the scene uses that is not on this machine."""

    path: str
    #: Where the .blend said it is (for messages).
    original: str


@dataclass(frozen=True, kw_only=True)
class TracedProject:
    """A traced project. Rewritten copies live in ``staging`` until ``close()`` (or the end of
    a ``with`` block) removes it."""

    main: str
    files: tuple[ProjectFile, ...]  # sorted by path
    missing: tuple[MissingFile, ...]  # sorted by path
    staging: Path

    @property
    def total_bytes(self) -> int:
        return sum(file.size for file in self.files)

    def file_set(self, *, allow_missing: bool = False) -> dict[str, Any]:
        """The job's ``files``: missing paths only when the job allows them."""
        return {
            "main": self.main,
            "files": [file.entry() for file in self.files],
            "missing": [file.path for file in self.missing] if allow_missing else [],
        }

    def close(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> TracedProject:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def outside_path(original: str) -> str:
    """The project path of a file outside the project root, the same on every machine:
    ``C:\\tex\\a.png`` -> ``_outside/C/tex/a.png``, ``\\\\server\\share\\a.png`` ->
    ``_outside/unc/server/share/a.png``, ``/mnt/tex/a.png`` -> ``_outside/mnt/tex/a.png``.

    Windows paths are read as Windows paths on any host (the .blend may come from Windows), so
    the mapping does not depend on the machine that submits."""
    if _WINDOWS_DRIVE.match(original) or original.startswith(("\\\\", "//")):
        windows = PureWindowsPath(original)
        drive = windows.drive
        if drive.startswith(("\\\\", "//")):
            head = [UNC_FOLDER, *(part for part in re.split(r"[\\/]+", drive) if part)]
        else:
            head = [drive[0].upper()] if drive else []
        rest = [part for part in windows.parts[1 if windows.anchor else 0 :] if part]
        parts = head + rest
    else:
        parts = [part for part in re.split(r"[\\/]+", original) if part]
    # A stray "C:" (a Windows path joined onto a POSIX folder) would be no valid name.
    clean = [part.rstrip(":") if _DRIVE_PART.fullmatch(part) else part for part in parts]
    return PurePosixPath(
        OUTSIDE_ROOT, *(part for part in clean if part not in {".", ".."})
    ).as_posix()


def trace_project(  # noqa: PLR0913 - keyword-only: the trace's options
    blend: Path,
    *,
    project_root: Path | None = None,
    main_name: str | None = None,
    cancelled: threading.Event | None = None,
    hash_workers: int = HASH_WORKERS,
    hash_cache: HashCache | UserCache | None = USER_CACHE,
) -> TracedProject:
    """Trace ``blend`` and every file it needs, recursively; hash them.

    ``project_root`` (default: the folder of ``blend``) is what project paths are relative to.
    ``main_name`` renames the main file in the set (the add-on traces a temporary copy saved next
    to the artist's file, yet the job must name the file as the artist knows it).
    ``hash_cache`` keeps the artist's files' hashes between traces (default: the user's cache,
    ``hash_cache.user_cache()``; None hashes every file); BAT's rewritten copies are always
    hashed."""
    blend = Path(blend)
    if not blend.is_file():
        raise ProjectError(f"no .blend at {blend}")
    root = Path(project_root) if project_root is not None else blend.parent
    if not root.is_dir():
        raise ProjectError(f"the project root {root} is not a folder")
    absolute_blend = bpathlib.make_absolute(blend)
    absolute_root = bpathlib.make_absolute(root)
    try:
        absolute_blend.relative_to(absolute_root)
    except ValueError:
        raise ProjectError(f"{blend} is not inside the project root {root}") from None
    staging = Path(tempfile.mkdtemp(prefix="renderfarm-project-"))
    try:
        recorded, main, missing = _pack(absolute_blend, absolute_root, staging)
        if main_name is not None:
            main = _renamed(main, main_name, recorded)
        cache = user_cache() if hash_cache is USER_CACHE else hash_cache
        files = _hashed(recorded, cancelled=cancelled, workers=hash_workers, cache=cache)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return TracedProject(main=main, files=files, missing=missing, staging=staging)


# BAT, told to pack without copying.


@dataclass(frozen=True)
class _Recorded:
    source: Path
    rewritten: bool


class _Recorder(transfer.FileTransferer):
    """A FileTransferer that copies nothing of the artist's: it notes where each file would go,
    and takes BAT's rewritten .blend copies out of BAT's temporary folder into ours."""

    def __init__(self, *, layout: pathlib.PurePath, rewritten: Path) -> None:
        super().__init__()
        self._layout = layout
        self._rewritten = rewritten
        self.files: dict[str, _Recorded] = {}

    def run(self) -> None:
        for src, dst, action in self.iter_queue():
            path = pathlib.PurePath(dst).relative_to(self._layout).as_posix()
            if action == transfer.Action.MOVE:
                if path == _INFO_FILE:
                    continue
                target = self._rewritten / path
                target.parent.mkdir(parents=True, exist_ok=True)
                # Copied, not moved: BAT stats the file after queueing it, and removes its own
                # temporary folder when it closes.
                _copy_recompressed(Path(src), target)
                self.files[path] = _Recorded(target, rewritten=True)
            else:
                self.files.setdefault(path, _Recorded(Path(src), rewritten=False))


class _TracingPacker(Packer):
    """BAT's Packer with our layout for outside files and our transferer."""

    def __init__(self, blend: Path, root: Path, staging: Path) -> None:
        super().__init__(blend, root, str(staging / _LAYOUT))
        self.recorder = _Recorder(layout=self._target_path, rewritten=staging / _REWRITTEN)

    def _find_new_paths(self) -> None:
        for path in self._new_location_paths:
            self._actions[path].new_path = pathlib.Path(
                self._target_path, project_path(path, self.project)
            )

    def _create_file_transferer(self) -> transfer.FileTransferer:
        return self.recorder

    def _write_info_file(self) -> None:
        """No pack-info.txt: the set holds only the project's own files."""


def project_path(path: pathlib.PurePath, root: pathlib.PurePath) -> str:
    """Where a file BAT found lives in the set: relative to the root if inside it, else under
    ``_outside/`` (the same mapping whether the file exists or is missing)."""
    absolute = bpathlib.make_absolute(path)
    try:
        return absolute.relative_to(bpathlib.make_absolute(root)).as_posix()
    except ValueError:
        return outside_path(str(absolute))


def _pack(
    blend: Path, root: Path, staging: Path
) -> tuple[dict[str, _Recorded], str, tuple[MissingFile, ...]]:
    packer = _TracingPacker(blend, root, staging)
    try:
        try:
            packer.strategise()
            packer.execute()
        except blendfile.exceptions.BlendFileError as error:
            raise ProjectError(f"cannot read {blend.name} as a .blend: {error}") from None
        layout = packer.recorder._layout
        main = pathlib.PurePath(packer.output_path).relative_to(layout).as_posix()
        missing = tuple(
            sorted(
                {
                    MissingFile(path=project_path(path, root), original=str(path))
                    for path in packer.missing_files
                },
                key=lambda file: file.path,
            )
        )
        return dict(packer.recorder.files), main, missing
    finally:
        packer.close()
        blendfile.close_all_cached()


def _copy_recompressed(source: Path, target: Path) -> None:
    """Write BAT's rewritten .blend as one zstd frame. BAT recompresses it with gzip, whose header
    holds a time and a temporary file name, so the same rewrite would hash differently each time;
    a zstd frame holds neither, so the same rewrite always gives the same bytes, and the file
    stays about as small as Blender's own (uncompressed it would be 5 or 6 times larger, and the
    main file is the one that changes and is uploaded most). Blender 3.0 and later, and BAT,
    read a .blend that is one zstd frame."""
    plain = target.with_name(f".{target.name}.plain")
    try:
        with _decompressed(source) as packed_in, plain.open("wb") as out:
            shutil.copyfileobj(packed_in, out, _COPY_BLOCK)
        with plain.open("rb") as data, target.open("wb") as packed:
            compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
            compressor.copy_stream(data, packed, size=plain.stat().st_size)
    finally:
        plain.unlink(missing_ok=True)


def _decompressed(source: Path) -> Any:
    """A file object over the .blend's bytes, whether BAT wrote them plain, gzip or zstd."""
    with source.open("rb") as file:
        magic = file.read(4)
    if magic[:2] == _GZIP_MAGIC:
        return gzip.open(source, "rb")
    if magic == _ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().stream_reader(source.open("rb"), closefd=True)
    return source.open("rb")


def _renamed(main: str, name: str, recorded: dict[str, _Recorded]) -> str:
    renamed = PurePosixPath(main).with_name(name).as_posix()
    if renamed != main:
        recorded[renamed] = recorded.pop(main)
    return renamed


def _hashed(
    recorded: dict[str, _Recorded],
    *,
    cancelled: threading.Event | None,
    workers: int,
    cache: HashCache | None,
) -> tuple[ProjectFile, ...]:
    def one(item: tuple[str, _Recorded]) -> ProjectFile:
        path, file = item
        if cache is not None and not file.rewritten:
            digest, size = cache.sha256(file.source, cancelled=cancelled)
        else:
            # A rewritten copy is a fresh temporary file: nothing to look up.
            digest, size = sha256_of(file.source, cancelled=cancelled), file.source.stat().st_size
        return ProjectFile(
            path=path, source=file.source, sha256=digest, size=size, rewritten=file.rewritten
        )

    items = sorted(recorded.items())
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        return tuple(pool.map(one, items))


def iter_sources(project: TracedProject) -> Iterator[tuple[str, Path]]:
    """(project path, file to read) for every file: what a worker lays out."""
    for file in project.files:
        yield file.path, file.source
