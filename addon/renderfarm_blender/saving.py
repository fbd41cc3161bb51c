"""The open file as the farm gets it: the saved .blend itself, or its current state saved as a
copy, the person's own file untouched.

A saved file without changes is traced as it is. A saved file with unsaved changes (or any saved
file in background mode, where script edits do not mark the file dirty) is saved as a
hidden copy next to it (``copy=True``: the open file keeps its name and nothing is written to its
path), so its relative paths still resolve; the job names it as the original and the copy is
deleted when the submission ends. A file never saved goes to a temporary folder (its paths are
absolute, so they land under ``_outside/``). Dependencies are traced from that .blend by
``renderfarm_client.project``: linked libraries, clips, volumes and caches included.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import bpy

from .client import PackingError


@dataclass(frozen=True, kw_only=True)
class MainFile:
    """The .blend to trace, the folder project paths start at, and the name the job uses."""

    blend: Path
    project_root: Path
    main_name: str
    #: A copy this add-on saved, to delete when the submission ends.
    temporary: bool


def main_file() -> MainFile:
    current = bpy.data.filepath
    # Without a UI nothing pushes undo steps, so ``is_dirty`` stays False after a script's edits:
    # in background mode the current state is always what is sent.
    unchanged = not bpy.data.is_dirty and not bpy.app.background
    if current and unchanged:
        path = Path(current)
        return MainFile(blend=path, project_root=path.parent, main_name=path.name, temporary=False)
    if current:
        original = Path(current)
        target = original.with_name(f".{original.stem}.renderfarm-{uuid.uuid4().hex[:8]}.blend")
        main_name = original.name
    else:
        target = Path(tempfile.mkdtemp(prefix="renderfarm-")) / "untitled.blend"
        main_name = target.name
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(target), copy=True, check_existing=False)
    except RuntimeError as error:
        target.unlink(missing_ok=True)
        raise PackingError(f"Could not save a copy of the scene to send: {error}") from None
    return MainFile(blend=target, project_root=target.parent, main_name=main_name, temporary=True)
