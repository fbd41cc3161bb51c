"""What each deployed artefact runs is in it: every first-party module the Function App's entry
point (function_app.py) or the worker's (python -m containerapp_worker) imports, directly or
through other modules, is in the Function package (.funcignore, infra/package_function.py) or the
worker image (the Dockerfile's COPY lines, .dockerignore), with the data files beside it (the price
table); and every third-party module it imports is installed there by that artefact's
requirements (requirements.txt; containerapp_worker/requirements.txt plus the pool's bpy), pinned
or pulled in by a pin. The import graph is read statically (ast), the installed distributions are
the test venv's, so nothing is imported but the packages that own a third-party module."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.infra.bicep_files import BLENDER_POOLS, REPO_ROOT
from tests.infra.test_package_function import packager
from tests.infra.test_worker_image import DOCKERFILE, dockerignored

FUNCTION_ENTRY = REPO_ROOT / "function_app.py"
WORKER_ENTRY = REPO_ROOT / "containerapp_worker" / "__main__.py"
FUNCTION_REQUIREMENTS = [REPO_ROOT / "requirements.txt"]
WORKER_REQUIREMENTS = [
    REPO_ROOT / "containerapp_worker" / "requirements.txt",
    *sorted(BLENDER_POOLS.glob("*.txt")),
]


def _first_party_file(module: str) -> Path | None:
    """The file of a module of this repository (a package's __init__.py), or None."""
    base = REPO_ROOT.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _is_first_party(module: str) -> bool:
    return _first_party_file(module.split(".", maxsplit=1)[0]) is not None


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> Iterator[str]:
    """Every module a file imports at run time (not under `if TYPE_CHECKING:`), lazily or not;
    `from package import name` yields package.name too, in case name is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.parent.relative_to(REPO_ROOT).parts

    def walk(nodes: Iterable[ast.AST]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.If) and _type_checking_only(node):
                yield from walk(node.orelse)
                continue
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package[: len(package) - node.level + 1]
                    base = ".".join([*parts, node.module] if node.module else parts)
                else:
                    base = node.module or ""
                yield base
                yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
            yield from walk(ast.iter_child_nodes(node))

    yield from walk(tree.body)


@cache
def reached(entry: Path) -> tuple[frozenset[Path], frozenset[str]]:
    """The first-party files the entry point runs and the third-party modules they import."""
    files: set[Path] = set()
    third_party: set[str] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in files:
            continue
        files.add(path)
        for module in _imports(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if not _is_first_party(module):
                third_party.add(module)
                continue
            # A package's __init__ runs before any of its modules.
            parts = module.split(".")
            for i in range(1, len(parts) + 1):
                found = _first_party_file(".".join(parts[:i]))
                if found is not None:
                    todo.append(found)
    # `from package import name` where name is not a module is no third-party import.
    third_party = {m for m in third_party if _owning_module(m) is not None}
    return frozenset(files), frozenset(third_party)


@cache
def _files_of_distributions() -> dict[Path, str]:
    owners: dict[Path, str] = {}
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        for file in dist.files or ():
            owners[Path(str(dist.locate_file(file))).resolve()] = name
    return owners


@cache
def _owning_module(module: str) -> str | None:
    """The shortest prefix of `module` that is a regular (not namespace) module, or None when
    no prefix is (`from package import function` yields package.function)."""
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        if spec.origin not in (None, "namespace"):
            return name
    return None


def distribution_of(module: str) -> str:
    owner = _owning_module(module)
    assert owner is not None, f"{module} is not installed in the test venv"
    spec = importlib.util.find_spec(owner)
    assert spec is not None and spec.origin is not None
    dist = _files_of_distributions().get(Path(spec.origin).resolve())
    assert dist is not None, f"no installed distribution owns {spec.origin} ({module})"
    return dist


def _requirement_lines(path: Path) -> Iterator[str]:
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text and not text.startswith("-"):
            yield text


@cache
def installed_by(requirement_files: tuple[Path, ...]) -> frozenset[str]:
    """The distributions those files pin, and everything those pull in (in the test venv)."""
    seen: set[str] = set()
    todo = [Requirement(line) for path in requirement_files for line in _requirement_lines(path)]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        extras = requirement.extras or {""}
        for text in metadata.requires(requirement.name) or ():
            needed = Requirement(text)
            if needed.marker is None or any(
                needed.marker.evaluate({"extra": extra}) for extra in extras
            ):
                todo.append(needed)
    return frozenset(seen)


def relative(path: Path) -> PurePosixPath:
    return PurePosixPath(path.relative_to(REPO_ROOT).as_posix())


def package_data(files: Iterable[Path]) -> set[Path]:
    """Non-Python files in the first-party folders the code runs from (the price table)."""
    folders = {path.parent for path in files if path.parent != REPO_ROOT}
    return {
        path
        for folder in folders
        for path in folder.iterdir()
        if path.is_file() and path.suffix not in {".py", ".pyc", ".typed"}
    } | {
        path
        for folder in folders
        for sub in folder.iterdir()
        if sub.is_dir() and sub.name != "__pycache__" and not (sub / "__init__.py").exists()
        for path in sub.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def funcignore_rules() -> list[Any]:
    rules: list[Any] = packager.parse_rules((REPO_ROOT / ".funcignore").read_text(encoding="utf-8"))
    return rules


def in_function_package(path: Path) -> bool:
    rules = funcignore_rules()
    rel = relative(path)
    folders = [PurePosixPath(*rel.parts[: i + 1]) for i in range(len(rel.parts) - 1)]
    return not any(
        packager.is_ignored(folder, is_folder=True, rules=rules) for folder in folders
    ) and not packager.is_ignored(rel, is_folder=False, rules=rules)


def dockerfile_copies() -> set[str]:
    """The folders the worker image copies from the build context."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    return {match.group(1) for match in re.finditer(r"^COPY (\S+)/ /app/\1/$", text, re.M)}


def in_worker_image(path: Path) -> bool:
    rel = relative(path)
    return rel.parts[0] in dockerfile_copies() and not dockerignored(str(rel))


def test_the_walk_finds_the_new_consumers_and_their_media_libraries() -> None:
    """The walker itself: it follows function_app.py into the events consumer, the finalizer's
    media code and the webhook deliverer, and sees PyAV and Pillow."""
    files, third_party = reached(FUNCTION_ENTRY)
    names = {str(relative(path)) for path in files}
    assert {"functions/events.py", "functions/webhook_trigger.py"} <= names
    tops = {module.split(".")[0] for module in third_party}
    assert {"av", "PIL", "azure", "standardwebhooks"} <= tops


@pytest.mark.parametrize(
    ("entry", "shipped"),
    [(FUNCTION_ENTRY, in_function_package), (WORKER_ENTRY, in_worker_image)],
    ids=["function-package", "worker-image"],
)
def test_every_first_party_module_and_data_file_it_runs_ships(
    entry: Path, shipped: Callable[[Path], bool]
) -> None:
    files, _ = reached(entry)
    missing = sorted(
        str(relative(path)) for path in files | package_data(files) if not shipped(path)
    )
    assert missing == [], f"run by {relative(entry)} but left out of what is deployed"


def test_the_price_table_ships_with_both() -> None:
    prices = sorted((REPO_ROOT / "renderfarm" / "jobs" / "prices").glob("*.json"))
    assert prices, "renderfarm/jobs/prices holds the price table"
    for path in prices:
        assert in_function_package(path) and in_worker_image(path), relative(path)


@pytest.mark.parametrize(
    ("entry", "requirements"),
    [(FUNCTION_ENTRY, FUNCTION_REQUIREMENTS), (WORKER_ENTRY, WORKER_REQUIREMENTS)],
    ids=["function-package", "worker-image"],
)
def test_every_third_party_module_it_imports_is_installed_by_its_requirements(
    entry: Path, requirements: list[Path]
) -> None:
    _, third_party = reached(entry)
    installed = installed_by(tuple(requirements))
    missing = sorted(
        f"{module} ({distribution_of(module)})"
        for module in third_party
        if distribution_of(module) not in installed
    )
    assert missing == [], f"imported under {relative(entry)}, not installed by {requirements}"
