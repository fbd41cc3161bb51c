"""Real .blend files saved by each Blender the farm runs, for tests that read their headers.

Each pool's bpy lives in its own venv (Blender 4.5's on Python 3.11), so the files are made by
running ``tests/blend_files_maker.py`` under that venv's Python.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MAKER = REPO / "tests" / "blend_files_maker.py"

#: The Python of each Blender version's venv, and the make target that builds it.
BLENDER_PYTHONS: dict[str, tuple[Path, str]] = {
    "5.3": (REPO / ".venv" / "bin" / "python", "make deps"),
    "4.5": (REPO / ".venv-blender-4.5" / "bin" / "python", "make blender-4.5"),
}

#: Starting bpy and saving twice takes a few seconds; two minutes mean something hangs.
_MAKER_TIMEOUT_S = 120


def blender_python(version: str) -> Path:
    """The Python whose bpy is Blender ``version``; fails (never skips) the test without it."""
    python, target = BLENDER_PYTHONS[version]
    if not python.exists():
        pytest.fail(f"no venv for Blender {version} ({python} is missing): run `{target}`")
    return python


def blend_files(python: Path, out_dir: Path) -> dict[str, Path]:
    """Save a tiny scene with ``python``'s bpy into ``out_dir``, plain and compressed:
    ``{'plain': path, 'compressed': path}``."""
    done = subprocess.run(
        [str(python), str(MAKER), str(out_dir)],
        capture_output=True,
        text=True,
        timeout=_MAKER_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{MAKER.name} failed under {python}:\n{done.stdout}\n{done.stderr}")
    return {name: out_dir / f"{name}.blend" for name in ("plain", "compressed")}
