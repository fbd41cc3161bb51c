"""Which of the external files an open scene uses are not on disk.

A project's job renders from a folder the worker laid out from the job's file set; a file the
scene uses that the set lacks renders as pink, or as nothing, without any error from Blender. So
after opening the main file the worker walks what the scene uses (images and each of their UDIM
tiles, libraries and the IDs linked from them, fonts, sounds, movie clips, Alembic/USD caches,
OpenVDB volumes, sequencer strips, and the folders of baked point caches and fluid caches) and
names each file that is not there. Packed data counts as present.

Each path is resolved relative to the file that wrote it (``bpy.path.abspath`` with the ID's
library), and named by its project path (relative to the job folder, POSIX) or, when it points
outside the job folder, by the path as the scene wrote it. Written for the Python API of every
pool (Blender 4.5 and 5.x): ``bpy.data.file_path_foreach`` (5.1+) is not used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Image sources whose pixels come from files.
_FILE_SOURCES = {"FILE", "SEQUENCE", "MOVIE", "TILED"}
#: ID collections of bpy.data that can hold IDs linked from a library.
_ID_COLLECTIONS = (
    "actions",
    "armatures",
    "brushes",
    "cache_files",
    "cameras",
    "collections",
    "curves",
    "fonts",
    "grease_pencils",
    "hair_curves",
    "images",
    "lattices",
    "lights",
    "lightprobes",
    "linestyles",
    "masks",
    "materials",
    "meshes",
    "metaballs",
    "movieclips",
    "node_groups",
    "objects",
    "paint_curves",
    "palettes",
    "particles",
    "pointclouds",
    "scenes",
    "sounds",
    "speakers",
    "texts",
    "textures",
    "volumes",
    "workspaces",
    "worlds",
)
_UDIM_NUMBER = re.compile(r"(?<!\d)1\d{3}(?!\d)")
_FLUID_BAKED = (
    "has_cache_baked_data",
    "has_cache_baked_mesh",
    "has_cache_baked_particles",
    "has_cache_baked_noise",
    "has_cache_baked_guide",
)


@dataclass(frozen=True, kw_only=True)
class UsedFile:
    """A path the scene uses, as written, and the library it is relative to (None: main)."""

    written: str
    library: Any = None
    folder: bool = False  # a folder (a disk cache), not a file
    #: What is missing when the file is there but incomplete (a library lacking an ID).
    lacking: str = ""


def missing_files(bpy: Any, root: Path) -> tuple[str, ...]:
    """Every file the open scene uses that is not on disk, named as the module says."""
    root = Path(os.path.normpath(root))
    names: set[str] = set()
    for used in used_files(bpy):
        absolute = os.path.normpath(bpy.path.abspath(used.written, library=used.library))
        present = os.path.isdir if used.folder else os.path.isfile
        name = _name(used.written, Path(absolute), root)
        if not present(absolute):
            names.add(name)
        elif used.lacking:
            names.add(f"{name} ({used.lacking})")
    return tuple(sorted(names))


def used_files(bpy: Any) -> Iterator[UsedFile]:
    data = bpy.data
    yield from _images(data)
    yield from _libraries(data)
    for font in data.fonts:
        if font.filepath and font.filepath != "<builtin>" and font.packed_file is None:
            yield UsedFile(written=font.filepath, library=font.library)
    for collection in (data.sounds, data.volumes):
        for item in collection:
            if item.filepath and item.packed_file is None:
                yield UsedFile(written=item.filepath, library=item.library)
    for item in (*data.movieclips, *data.cache_files):
        if item.filepath:
            yield UsedFile(written=item.filepath, library=item.library)
    yield from _strips(data)
    yield from _disk_caches(bpy)


def _images(data: Any) -> Iterator[UsedFile]:
    for image in data.images:
        if image.source not in _FILE_SOURCES or not image.filepath or _packed(image):
            continue
        if image.source == "TILED":
            for tile in image.tiles:
                yield UsedFile(
                    written=_tile_path(image.filepath, tile.number), library=image.library
                )
        else:
            yield UsedFile(written=image.filepath, library=image.library)


def _packed(image: Any) -> bool:
    return image.packed_file is not None or len(getattr(image, "packed_files", ())) > 0


def _tile_path(path: str, number: int) -> str:
    """The file of UDIM tile ``number``: the path's token, or its 1001-style number, replaced."""
    u, v = (number - 1001) % 10 + 1, (number - 1001) // 10 + 1
    if "<UDIM>" in path:
        return path.replace("<UDIM>", str(number))
    if "<UVTILE>" in path:
        return path.replace("<UVTILE>", f"u{u}_v{v}")
    folder, name = os.path.split(path)
    found = list(_UDIM_NUMBER.finditer(name))
    if not found:
        return path
    last = found[-1]
    return os.path.join(folder, f"{name[: last.start()]}{number}{name[last.end() :]}")


def _libraries(data: Any) -> Iterator[UsedFile]:
    lacking: dict[Any, list[str]] = {}
    for name in _ID_COLLECTIONS:
        for item in getattr(data, name, ()):
            if item.library is not None and getattr(item, "is_missing", False):
                lacking.setdefault(item.library.name, []).append(
                    f"{type(item).__name__} {item.name!r}"
                )
    for library in data.libraries:
        if getattr(library, "packed_file", None) is not None:
            continue
        missing = sorted(lacking.get(library.name, ()))
        # Relative to the main file, indirect libraries too: Blender keeps every library's
        # path relative to the file it opened, not to the library that linked it.
        yield UsedFile(
            written=library.filepath,
            library=None,
            lacking=f"lacks {', '.join(missing)}" if missing else "",
        )


def _strips(data: Any) -> Iterator[UsedFile]:
    for scene in data.scenes:
        editor = scene.sequence_editor
        if editor is None:
            continue
        strips: Any = getattr(editor, "strips_all", None) or getattr(editor, "sequences_all", ())
        for strip in strips:
            if strip.type == "IMAGE":
                for element in strip.elements:
                    written = os.path.join(strip.directory, element.filename)
                    yield UsedFile(written=written, library=scene.library)
            elif strip.type == "MOVIE":
                yield UsedFile(written=strip.filepath, library=scene.library)


def _disk_caches(bpy: Any) -> Iterator[UsedFile]:
    """The folders of point caches baked to disk, and of baked fluid domains."""
    for item, library in _point_caches(bpy.data):
        if item.use_external and item.filepath:
            yield UsedFile(written=item.filepath, library=library, folder=True)
        elif item.use_disk_cache and item.is_baked:
            yield UsedFile(written=_blendcache(bpy, library), library=library, folder=True)
    for obj in bpy.data.objects:
        for modifier in obj.modifiers:
            if modifier.type != "FLUID" or modifier.fluid_type != "DOMAIN":
                continue
            domain = modifier.domain_settings
            if any(getattr(domain, flag, False) for flag in _FLUID_BAKED):
                yield UsedFile(written=domain.cache_directory, library=obj.library, folder=True)


def _point_caches(data: Any) -> Iterator[tuple[Any, Any]]:
    for obj in data.objects:
        for modifier in obj.modifiers:
            cache = getattr(modifier, "point_cache", None)
            if modifier.type == "PARTICLE_SYSTEM":
                cache = modifier.particle_system.point_cache
            if cache is not None:
                yield cache, obj.library
            canvas = getattr(modifier, "canvas_settings", None)
            for surface in getattr(canvas, "canvas_surfaces", ()) if canvas else ():
                yield surface.point_cache, obj.library
    for scene in data.scenes:
        world = scene.rigidbody_world
        if world is not None and world.point_cache is not None:
            yield world.point_cache, scene.library


def _blendcache(bpy: Any, library: Any) -> str:
    """Blender's folder for a disk cache: ``//blendcache_<file name without .blend>``."""
    owner = library.filepath if library is not None else bpy.data.filepath
    return f"//blendcache_{Path(bpy.path.basename(owner)).stem}"


def _name(written: str, absolute: Path, root: Path) -> str:
    if absolute.is_relative_to(root):
        return absolute.relative_to(root).as_posix()
    return written
