"""The local farm's Blender pools: which versions it can run and the Python each runs on.

A pool's pins live in ``containerapp_worker/blender-pools/<major.minor>.txt``, the same files the
worker image is built from. The default pool runs from the project's own venv; every other one
from ``.venv-blender-<major.minor>``, which ``make blender-<major.minor>`` creates.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from renderfarm.shared.blend_header import BlenderVersion
from renderfarm.shared.blender_pools import parse_supported
from renderfarm_local.services import REPO

POOLS_DIR = REPO / "containerapp_worker" / "blender-pools"
#: The pool the project's venv carries (requirements-dev.txt and the Makefile say the same).
DEFAULT_BLENDER = "5.3"


class PoolUnavailable(RuntimeError):
    """A Blender version the local farm cannot run: unknown, or its venv is not made yet."""


@dataclass(frozen=True, kw_only=True)
class LocalPool:
    version: BlenderVersion
    python: Path

    @property
    def worker_command(self) -> tuple[str, ...]:
        return (str(self.python), "-m", "containerapp_worker")


def known_versions() -> tuple[str, ...]:
    """The versions with a pool file, oldest first."""
    found = [BlenderVersion.parse(path.stem) for path in POOLS_DIR.glob("*.txt")]
    return tuple(str(version) for version in sorted(found))


def venv_of(version: str) -> Path:
    return REPO / f".venv-blender-{version}"


def local_pool(version: BlenderVersion) -> LocalPool:
    text = str(version)
    if text not in known_versions():
        raise PoolUnavailable(
            f"no Blender {text} pool: this farm can run {', '.join(known_versions())} "
            f"(add {POOLS_DIR.relative_to(REPO)}/{text}.txt for another)"
        )
    if text == DEFAULT_BLENDER:
        return LocalPool(version=version, python=Path(sys.executable))
    python = venv_of(text) / "bin" / "python"
    if not (venv_of(text) / ".installed").exists() or not python.exists():
        raise PoolUnavailable(f"Blender {text}'s pool needs its venv: run `make blender-{text}`")
    return LocalPool(version=version, python=python)


def local_pools(versions: str) -> tuple[LocalPool, ...]:
    """``"5.3,4.5"`` -> the pools, oldest first; PoolUnavailable names what is missing."""
    try:
        parsed = parse_supported(versions)
    except ValueError as error:
        raise PoolUnavailable(f"--blender {versions!r}: {error}") from None
    return tuple(local_pool(version) for version in parsed)
