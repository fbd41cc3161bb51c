"""The README stays short, and every doc it, the other docs and the code point at exists.

Code cites the docs as ``docs/<topic>.md "Section"``: the file must exist and, where a section is
named, carry a heading of exactly that name. Links in the Markdown resolve to files in the
repository, and to a heading there when they name one (GitHub's anchors).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
MAX_README_LINES = 250

#: Folders that are not the project's own text: virtual environments, packages, build output.
SKIPPED_DIRS = {".git", "node_modules", "dist", "out", ".emulator-data", "__pycache__"}
#: Files whose comments may cite the docs.
CODE_SUFFIXES = {".py", ".js", ".bicep", ".kql", ".sh", ".toml"}
CODE_NAMES = {"Makefile", "Dockerfile"}

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
#: ``docs/reliability.md "Cancel"``, ``docs/facts.md, "Azurite"`` or a bare ``docs/facts.md``.
_DOC_CITATION = re.compile(r"\bdocs/([\w.-]+\.md)(?:[,:]?\s*(?:(?:#:?|//)\s*)?\"([^\"]+)\")?")
#: A line break inside a comment, with the next line's comment marker.
_COMMENT_WRAP = re.compile(r"\s*\n\s*(?:#:?|//)?\s*")
#: Notes that do not live in the repository, cited by section.
_STALE_CITATION = re.compile(r"FACTS\.md|README\s*[,:]?\s*(?:(?:#:?|//)\s*)?\"|see the README\b")


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def without_code_blocks(text: str) -> str:
    return _FENCE.sub("", text)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def headings(path: Path) -> list[str]:
    return _HEADING.findall(without_code_blocks(path.read_text(encoding="utf-8")))


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in headings(path):
        slug = anchor(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def code_files() -> Iterator[Path]:
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".venv")]
        for name in files:
            path = Path(root, name)
            if path.suffix in CODE_SUFFIXES or name in CODE_NAMES:
                yield path


def test_the_readme_is_read_in_ten_minutes() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move the detail into docs/"


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda path: path.name)
def test_every_relative_link_points_at_a_file_and_heading_that_exist(doc: Path) -> None:
    broken = []
    for target in _LINK.findall(without_code_blocks(doc.read_text(encoding="utf-8"))):
        if _EXTERNAL.match(target):
            continue
        path_part, _, fragment = target.partition("#")
        linked = (doc.parent / path_part).resolve() if path_part else doc
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target}: no heading #{fragment} in {linked.relative_to(REPO)}")
    assert not broken, f"{doc.relative_to(REPO)}: {broken}"


def test_the_readme_links_every_doc() -> None:
    linked = {Path(target.partition("#")[0]).name for target in _LINK.findall(README.read_text())}
    unlinked = [path.name for path in DOCS.glob("*.md") if path.name not in linked]
    assert not unlinked, f"docs the README does not link: {unlinked}"


def test_every_doc_the_code_cites_exists_with_its_section() -> None:
    broken = []
    for path in code_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for name, wrapped in _DOC_CITATION.findall(text):
            section = _COMMENT_WRAP.sub(" ", wrapped)
            doc = DOCS / name
            where = f"{path.relative_to(REPO)}: docs/{name}"
            if not doc.is_file():
                broken.append(f"{where}: no such file")
            elif section and section not in headings(doc):
                broken.append(f'{where} "{section}": no such heading')
    assert not broken, broken


def test_the_code_cites_notes_that_live_in_the_repository() -> None:
    stale = []
    for path in code_files():
        if path.resolve() == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in _STALE_CITATION.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            stale.append(f"{path.relative_to(REPO)}:{line}: {match.group()}")
    assert not stale, f'cite docs/<topic>.md "Section" instead: {stale}'


def test_the_anchor_of_a_heading_follows_github() -> None:
    assert (
        anchor("The job's end: a ledger tree, not one blob")
        == "the-jobs-end-a-ledger-tree-not-one-blob"
    )
    assert anchor("`make run`") == "make-run"
    assert anchor("API key secret format (for the API)") == "api-key-secret-format-for-the-api"
