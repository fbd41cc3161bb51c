"""Which Blender pool renders a job, and the queue each pool listens on.

A pool runs one Blender version. A scene goes by default to the oldest pool that can open it:
Blender opens files saved by older versions, and a pool of the version the artist used renders
what the artist saw. Must run on Python 3.11 too (the workers of the Blender 4.5 pool).
"""

from __future__ import annotations

from collections.abc import Sequence

from renderfarm.blend_header import BlenderVersion


class NoBlenderPool(ValueError):
    """No pool of this farm may render the job; the message says why."""

    def __init__(self, reason: str, *, supported: Sequence[BlenderVersion]) -> None:
        self.supported: tuple[str, ...] = tuple(str(v) for v in sorted(set(supported)))
        super().__init__(f"{reason} (this farm runs {_listed(self.supported)})")


def parse_supported(text: str) -> tuple[BlenderVersion, ...]:
    """The setting ``'5.3, 4.5'`` -> its versions, de-duplicated, oldest first."""
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise ValueError("the list of Blender versions is empty: name at least one, e.g. '5.3'")
    if not all(items):
        raise ValueError(f"the list of Blender versions {text!r} has an empty item")
    return tuple(sorted({BlenderVersion.parse(item) for item in items}))


def pick_pool(
    *,
    saved_by: BlenderVersion,
    pinned: BlenderVersion | None,
    supported: Sequence[BlenderVersion],
) -> BlenderVersion:
    """The pool for a scene saved by ``saved_by``: the pinned one, else the oldest that is not
    older than the scene. A pin older than the scene is the user's explicit choice and stands."""
    if pinned is not None:
        if pinned not in supported:
            raise NoBlenderPool(f"Blender {pinned} is not run by this farm", supported=supported)
        return pinned
    able = [version for version in supported if version >= saved_by]
    if not able:
        raise NoBlenderPool(
            f"the scene was saved by Blender {saved_by}, newer than every pool",
            supported=supported,
        )
    return min(able)


def queue_name(prefix: str, version: BlenderVersion) -> str:
    """The queue of a pool: ``queue_name('render-chunks', 5.3)`` -> ``'render-chunks-5.3'``."""
    return f"{prefix}-{version}"


def version_of_queue(prefix: str, name: str) -> BlenderVersion | None:
    """The pool whose queue is ``name``, or None when ``name`` is no pool queue of ``prefix``."""
    head = f"{prefix}-"
    if not name.startswith(head):
        return None
    try:
        return BlenderVersion.parse(name[len(head) :])
    except ValueError:
        return None


def _listed(versions: Sequence[str]) -> str:
    return ", ".join(versions) if versions else "no Blender at all"
