"""A fix for blender-asset-tracer 1.23, applied when this module is imported.

BAT 1.23 reads an ID's node tree from ``compositing_node_group`` for every ID type once a file
is from Blender 5.0 (subversion 4 and later), but only a Scene has that field: materials, lights
and worlds still keep theirs in ``nodetree``. So the textures of materials inside a linked
library went untraced (the main file's images are found by listing them, a library's only by
following pointers). The expanders look the helper up by its global name at call time, so
replacing the module's attribute fixes every caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from blender_asset_tracer.trace import expanders

_SCENE = b"SC"
#: BAT's own version, kept so a test can show what the fix changes.
ORIGINAL = expanders._expand_generic_nodetree_id


def _expand_generic_nodetree_id(block: Any) -> Iterator[Any]:
    """The node tree of an ID: a 5.0+ scene's compositor group, every other ID's ``nodetree``."""
    bfile = block.bfile
    new_scene_field = bfile.header.version >= 500 and bfile.file_subversion >= 4
    if block.code == _SCENE and new_scene_field:
        ntree = block.get_pointer(b"compositing_node_group", None)
    else:
        ntree = block.get_pointer(b"nodetree", None)
    if ntree is not None:
        yield from expanders._expand_generic_nodetree(ntree)


def apply() -> None:
    expanders._expand_generic_nodetree_id = _expand_generic_nodetree_id


apply()
