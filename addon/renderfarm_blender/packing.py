"""A packed copy of the open file, for the farm: every external file inside it, the person's own
file and data untouched.

How: each external image, sound and font that is not packed yet is packed into the session,
the session is saved as a *copy* to a temporary file (``copy=True``: the open file keeps its name,
nothing is written to its path), and what was packed here is dropped again with
``unpack(method="REMOVE")``, which keeps the paths and writes nothing to disk. Files that are
missing, linked libraries and data Blender cannot pack are named and refused before anything is
packed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy

from .client import PackingError

#: Image sources that live in files (the others are made by Blender).
_FILE_SOURCES = {"FILE", "SEQUENCE", "TILED"}


@dataclass(frozen=True, kw_only=True)
class External:
    kind: str
    name: str
    path: str

    def __str__(self) -> str:
        return f"{self.kind} '{self.name}' ({self.path})"


def _abspath(block: Any) -> str:
    return str(bpy.path.abspath(block.filepath, library=block.library))


def _packable() -> Iterator[tuple[str, Any]]:
    """Local data that points at a file Blender can pack, and is not packed yet."""
    for image in bpy.data.images:
        local = image.library is None and image.packed_file is None
        if local and image.source in _FILE_SOURCES and image.filepath:
            yield "image", image
    for sound in bpy.data.sounds:
        if sound.filepath and sound.packed_file is None and sound.library is None:
            yield "sound", sound
    for font in bpy.data.fonts:
        local = font.library is None and font.packed_file is None
        if local and font.filepath and font.filepath != "<builtin>":
            yield "font", font


def problems() -> list[str]:
    """What stops the scene from being sent, each naming the file; empty when it can go."""
    found: list[str] = []
    missing = [
        External(kind=kind, name=block.name, path=block.filepath)
        for kind, block in _packable()
        if not (kind == "image" and block.source == "TILED") and not Path(_abspath(block)).exists()
    ]
    if missing:
        found.append("missing " + ", ".join(str(item) for item in missing))
    libraries = [
        External(kind="library", name=lib.name, path=lib.filepath)
        for lib in bpy.data.libraries
        if lib.packed_file is None
    ]
    gone = [lib for lib in libraries if not Path(bpy.path.abspath(lib.path)).exists()]
    if gone:
        found.append("missing linked " + ", ".join(str(item) for item in gone))
    present = [lib for lib in libraries if lib not in gone]
    if present:
        found.append(
            "linked libraries cannot be sent yet: "
            + ", ".join(str(item) for item in present)
            + " (make them local, or File → External Data → Pack Linked Libraries)"
        )
    unpackable = [
        External(kind="movie", name=image.name, path=image.filepath)
        for image in bpy.data.images
        if image.source == "MOVIE" and image.packed_file is None and image.library is None
    ] + [
        External(kind=kind, name=block.name, path=block.filepath)
        for kind, collection in (
            ("movie clip", bpy.data.movieclips),
            ("volume", bpy.data.volumes),
            ("cache file", bpy.data.cache_files),
        )
        for block in collection
        if block.filepath and block.library is None and getattr(block, "packed_file", None) is None
    ]
    if unpackable:
        found.append(
            "Blender cannot pack " + ", ".join(str(item) for item in unpackable) + " for the farm"
        )
    return found


def packed_copy() -> Path:
    """Save the open file, with everything packed, to a new temporary .blend; the caller
    deletes it. Raises PackingError naming what is missing."""
    found = problems()
    if found:
        raise PackingError("Cannot submit: " + "; ".join(found))
    handle, name = tempfile.mkstemp(prefix="renderfarm-", suffix=".blend")
    os.close(handle)
    target = Path(name)
    packed_here = []
    try:
        for _kind, block in list(_packable()):
            block.pack()
            packed_here.append(block)
        bpy.ops.wm.save_as_mainfile(filepath=str(target), copy=True, check_existing=False)
    except RuntimeError as error:
        target.unlink(missing_ok=True)
        raise PackingError(f"Could not save a packed copy of the scene: {error}") from None
    finally:
        for block in packed_here:
            block.unpack(method="REMOVE")
    return target
