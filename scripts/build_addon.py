"""Build the Blender extension: ``dist/renderfarm-<version>.zip``.

The zip holds ``addon/renderfarm_blender/`` at its root (``blender_manifest.toml`` first, as
Blender's "Install from Disk" and ``bpy.ops.extensions.package_install_files`` expect) and, in
``client_core/``, a copy of the client core: the top-level modules of ``renderfarm_client/``,
which import only the standard library and each other (relatively). The repository holds that
code once; this copy exists only in the zip.

Usage: python scripts/build_addon.py [--out DIR]; prints the zip's path.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ADDON = REPO / "addon" / "renderfarm_blender"
CLIENT_CORE = REPO / "renderfarm_client"
VENDORED = "client_core"
MANIFEST = "blender_manifest.toml"
_SKIP = {"__pycache__"}


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
    return files


def build(out_dir: Path) -> Path:
    manifest = tomllib.loads((ADDON / MANIFEST).read_text(encoding="utf-8"))
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for source, name in addon_files():
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
