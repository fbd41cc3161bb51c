"""Build the Blender extension: ``dist/renderfarm-<version>.zip``.

The zip holds ``addon/renderfarm_blender/`` at its root (``blender_manifest.toml`` first, as
Blender's "Install from Disk" and ``bpy.ops.extensions.package_install_files`` expect) and, in
``client_core/``, a copy of the client core: the top-level modules of ``renderfarm_client/``
and the wire shapes it shares with the API (``renderfarm/wire.py``), whose absolute imports are
made relative in the copy (as pip's ``vendoring`` tool rewrites what it vendors). They import
each other and the standard library, except ``project.py`` and ``bat_compat.py``, which import:

- blender-asset-tracer: its wheel, fetched from PyPI at the version requirements-dev.txt pins,
  goes in the zip's ``wheels/``, which the manifest lists and Blender installs (the repository
  holds no copy of it);
- ``zstandard``, for zstd-compressed .blend files, not bundled: Blender's own Python ships it
  (Blender's build lists it "for Python scripts that read .blend files"; the ``bpy`` wheel, which
  has no Python of its own, requires it from PyPI instead).

The repository holds the client's code once; this copy exists only in the zip.

Licence: the project is MIT, but the zip bundles BAT (GPL-2.0-or-later), so the add-on as
distributed is GPL-2.0-or-later (its manifest says so); MIT code may be distributed under the GPL.

Usage: python scripts/build_addon.py [--out DIR]; prints the zip's path.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ADDON = REPO / "addon" / "renderfarm_blender"
CLIENT_CORE = REPO / "renderfarm_client"
VENDORED = "client_core"
MANIFEST = "blender_manifest.toml"
WHEELS = "wheels"
#: The CLI's own pin, so that the add-on traces with the same BAT.
REQUIREMENTS = REPO / "requirements-dev.txt"
BUNDLED = ("blender-asset-tracer",)
_SKIP = {"__pycache__"}
#: Modules outside renderfarm_client/ that the client core imports (standard library only).
SHARED = {"renderfarm.wire": REPO / "renderfarm" / "wire.py"}


def pinned(name: str) -> str:
    """``name==version`` as requirements-dev.txt pins it."""
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        if line.split("==")[0].strip() == name:
            return line.strip()
    raise SystemExit(f"{name} is not pinned in {REQUIREMENTS.name}")


def fetch_wheels(folder: Path) -> list[Path]:
    """The bundled packages' wheels (pure Python, from PyPI or pip's cache)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "download", "--quiet"]
        + ["--no-deps", "--only-binary", ":all:", "--dest", str(folder)]
        + [pinned(name) for name in BUNDLED],
        check=True,
    )
    return sorted(folder.glob("*.whl"))


def addon_files() -> list[tuple[Path, str]]:
    """(source, name in the zip), the manifest first."""
    files = [(ADDON / MANIFEST, MANIFEST)]
    for path in sorted(ADDON.rglob("*")):
        relative = path.relative_to(ADDON)
        wanted = path.is_file() and path.suffix != ".pyc" and path.name != MANIFEST
        if wanted and not _SKIP & set(relative.parts):
            files.append((path, relative.as_posix()))
    for path in sorted(CLIENT_CORE.glob("*.py")):
        files.append((path, f"{VENDORED}/{path.name}"))
    for path in SHARED.values():
        files.append((path, f"{VENDORED}/{path.name}"))
    return files


def vendored(path: Path) -> str:
    """A client core module as the zip holds it: imports of the shared modules made relative."""
    text = path.read_text(encoding="utf-8")
    for module in SHARED:
        text = text.replace(f"from {module} import", f"from .{module.rpartition('.')[2]} import")
    return text


def build(out_dir: Path) -> Path:
    manifest = tomllib.loads((ADDON / MANIFEST).read_text(encoding="utf-8"))
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".zip.part")
    with (
        tempfile.TemporaryDirectory() as scratch,
        zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        wheels = [(wheel, f"{WHEELS}/{wheel.name}") for wheel in fetch_wheels(Path(scratch))]
        listed = {name.removeprefix("./") for name in manifest.get("wheels", ())}
        if listed != {name for _, name in wheels}:
            raise SystemExit(f"{MANIFEST} lists {sorted(listed)}, the pins give {wheels}")
        for source, name in [*addon_files(), *wheels]:
            if name.startswith(f"{VENDORED}/"):
                archive.writestr(name, vendored(source))
            else:
                archive.write(source, name)
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    args = parser.parse_args(argv)
    sys.stdout.write(f"{build(args.out)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
