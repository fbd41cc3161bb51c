"""Build the Function App's zip from the repository root, leaving out what `.funcignore` names.

Core Tools cannot be installed here, so deploy.sh packages the app itself. `.funcignore` uses
gitignore syntax; this reads the subset it needs: globs, `/`-anchored paths, trailing `/` for
folders, `!` to re-include, comments. The last rule that matches a path decides.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

IGNORE_FILE = ".funcignore"


@dataclass(frozen=True, kw_only=True)
class IgnoreRule:
    """One line of `.funcignore`."""

    pattern: str
    negated: bool
    folders_only: bool
    anchored: bool

    @classmethod
    def parse(cls, line: str) -> IgnoreRule | None:
        text = line.strip()
        if not text or text.startswith("#"):
            return None
        negated = text.startswith("!")
        text = text.removeprefix("!")
        folders_only = text.endswith("/")
        text = text.rstrip("/")
        # As in gitignore, a slash anywhere but at the end ties the pattern to the root.
        anchored = "/" in text
        return cls(
            pattern=text.lstrip("/"), negated=negated, folders_only=folders_only, anchored=anchored
        )

    def matches(self, path: PurePosixPath, *, is_folder: bool) -> bool:
        if self.folders_only and not is_folder:
            return False
        subject = str(path) if self.anchored else path.name
        return fnmatch.fnmatchcase(subject, self.pattern)


def parse_rules(text: str) -> list[IgnoreRule]:
    return [rule for line in text.splitlines() if (rule := IgnoreRule.parse(line)) is not None]


def is_ignored(path: PurePosixPath, *, is_folder: bool, rules: Sequence[IgnoreRule]) -> bool:
    ignored = False
    for rule in rules:
        if rule.matches(path, is_folder=is_folder):
            ignored = not rule.negated
    return ignored


def packaged_files(root: Path, rules: Sequence[IgnoreRule]) -> Iterator[PurePosixPath]:
    """Every file under root that the package keeps, relative to root, in a stable order."""
    for folder, subfolders, files in os.walk(root):
        here = PurePosixPath(Path(folder).relative_to(root).as_posix())
        # Pruning in place keeps os.walk out of ignored folders (.venv, node_modules).
        subfolders[:] = sorted(
            name for name in subfolders if not is_ignored(here / name, is_folder=True, rules=rules)
        )
        for name in sorted(files):
            path = here / name
            if not is_ignored(path, is_folder=False, rules=rules):
                yield path


def build_package(root: Path, output: Path) -> list[PurePosixPath]:
    """Write the zip and return what went into it."""
    ignore_file = root / IGNORE_FILE
    rules = parse_rules(ignore_file.read_text(encoding="utf-8")) if ignore_file.exists() else []
    members = list(packaged_files(root, rules))
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            archive.write(root / member, arcname=str(member))
    return members


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the Function App root")
    parser.add_argument("--output", type=Path, required=True, help="the zip to write")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    output: Path = args.output.resolve()
    if output.is_relative_to(root):
        parser.error(f"--output {output} is inside --root: the zip would package itself")
    members = build_package(root, output)
    sys.stderr.write(f"packaged {len(members)} files from {root} into {output}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
