"""Save a tiny scene with the bpy of the Python running this script, plain and compressed.

Usage: ``<python of a bpy venv> tests/blend_files_maker.py OUT_DIR``. Writes ``OUT_DIR/plain.blend``
and ``OUT_DIR/compressed.blend`` and prints ``bpy.app.version_string``. It runs under each pool's
Python (3.11 for Blender 4.5), so it imports nothing from this repository.
"""

from __future__ import annotations

import sys
from pathlib import Path

import bpy


def main(out_dir: Path) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    mesh = bpy.data.meshes.new("Triangle")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    scene.collection.objects.link(bpy.data.objects.new("Triangle", mesh))
    out_dir.mkdir(parents=True, exist_ok=True)
    # copy=True leaves the session's file path alone, so both saves are independent.
    for name, compress in (("plain", False), ("compressed", True)):
        path = out_dir / f"{name}.blend"
        bpy.ops.wm.save_as_mainfile(filepath=str(path), compress=compress, copy=True)
    print(bpy.app.version_string)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
