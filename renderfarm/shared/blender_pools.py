"""Which Blender pool renders a job, and the queue each pool listens on.

A pool runs one Blender version. A scene goes by default to the oldest pool that can open it:
Blender opens files saved by older versions, and a pool of the version the artist used renders
what the artist saw. Must run on Python 3.11 too (the workers of the Blender 4.5 pool).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from renderfarm.shared.blend_header import BlenderVersion
from renderfarm.shared.errors import DomainError
from renderfarm.shared.priority import BANDS, Band

#: The suffix of a pool's GPU queues: render-chunks-5.3-gpu, -gpu-high, -gpu-low.
GPU_SUFFIX = "gpu"


class NoBlenderPool(DomainError, ValueError):
    """No pool of this farm may render the job; the message says why."""

    # A 409, not a 422: the request is well formed; the farm as deployed (its pools) cannot
    # render it, which the document cannot know. Pinning another Blender resolves it.
    status, slug, title = 409, "no-blender-pool", "No Blender for this scene"
    field = ("blender", "body")

    def problem_extra(self) -> Mapping[str, Any]:
        return {"supported_versions": list(self.supported)}

    def __init__(self, reason: str, *, supported: Sequence[BlenderVersion]) -> None:
        self.supported: tuple[str, ...] = tuple(str(v) for v in sorted(set(supported)))
        super().__init__(f"{reason} (this farm runs {_listed(self.supported)})")


class NoGpuWorkers(DomainError, ValueError):
    """The job asks for render.device GPU, but this farm has no GPU workers."""

    # A 409 for the same reason: rendering on the CPU resolves it.
    status, slug, title = 409, "no-gpu-workers", "No GPU workers"
    field = ("render.device", "body")

    def __init__(self) -> None:
        super().__init__(
            "render.device GPU needs GPU workers, and this farm has none "
            "(infra: deployGpuWorkers; the API: RENDERFARM_GPU_WORKERS)"
        )


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


def queue_key(version: BlenderVersion, band: Band = Band.NORMAL, *, gpu: bool = False) -> str:
    """A chunk queue's name after the prefix: ``5.3``, ``5.3-high``, ``5.3-gpu-low``.

    The normal band has no suffix, so a pool's normal queue keeps the name it had before bands
    existed (``render-chunks-5.3``): messages already queued there, and workers of an older
    release, carry on through an upgrade.
    """
    parts = [str(version)]
    if gpu:
        parts.append(GPU_SUFFIX)
    if band is not Band.NORMAL:
        parts.append(band.value)
    return "-".join(parts)


def queue_name(
    prefix: str, version: BlenderVersion, band: Band = Band.NORMAL, *, gpu: bool = False
) -> str:
    """A chunk queue: ``queue_name('render-chunks', 5.3)`` -> ``'render-chunks-5.3'``;
    ``queue_name('render-chunks', 5.3, Band.HIGH, gpu=True)`` -> ``'render-chunks-5.3-gpu-high'``.
    """
    return f"{prefix}-{queue_key(version, band, gpu=gpu)}"


def pool_queues(prefix: str, version: BlenderVersion, *, gpu: bool = False) -> tuple[str, ...]:
    """A pool's CPU (or GPU) queues, highest band first: the order a worker tries them in."""
    return tuple(queue_name(prefix, version, band, gpu=gpu) for band in BANDS)


def farm_queues(
    prefix: str, versions: Sequence[BlenderVersion], *, gpu: bool = False
) -> tuple[str, ...]:
    """Every chunk queue of the farm: each pool's CPU queues, and its GPU queues when ``gpu``."""
    kinds = (False, True) if gpu else (False,)
    return tuple(
        name
        for version in versions
        for kind in kinds
        for name in pool_queues(prefix, version, gpu=kind)
    )


def version_of_queue(prefix: str, name: str) -> BlenderVersion | None:
    """The pool whose queue is ``name`` (any band, CPU or GPU), or None when ``name`` is no
    chunk queue of ``prefix``."""
    head = f"{prefix}-"
    if not name.startswith(head):
        return None
    rest = name[len(head) :]
    for band in (Band.HIGH, Band.LOW):
        if rest.endswith(f"-{band.value}"):
            rest = rest[: -len(band.value) - 1]
            break
    rest = rest.removesuffix(f"-{GPU_SUFFIX}")
    try:
        return BlenderVersion.parse(rest)
    except ValueError:
        return None


def is_gpu_queue(prefix: str, name: str) -> bool:
    """Whether ``name`` is one of a pool's GPU queues."""
    version = version_of_queue(prefix, name)
    return version is not None and name in pool_queues(prefix, version, gpu=True)


def _listed(versions: Sequence[str]) -> str:
    return ", ".join(versions) if versions else "no Blender at all"
