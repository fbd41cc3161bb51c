"""The project's packages point one way: no package imports another that (through others)
imports it back, the domain core needs no SDK, the client library needs neither the local farm
nor the API, and the benchmarks do not borrow from the tests.

The graph is read from the source with ast (nothing is imported): a node is a package or
sub-package (a folder with ``__init__.py``), and it has an edge to every other package one of
its own modules imports, at module level or inside a function alike (a lazy import is still a
dependency). ``tests/`` and ``bench/`` are not nodes: they sit on top of everything.

Two graphs must be free of cycles: the top-level packages' (each sub-package folded into its
top-level package), and the sub-packages' without the edges between a package and its own
sub-packages (a package's modules may compose its sub-packages and lend them helpers, as
``renderfarm_azure/services.py`` composes ``renderfarm_azure/webhooks/``; siblings and
strangers point one way).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Folders that use the project rather than being part of it.
ON_TOP = {"tests", "bench"}
#: Modules may grow to this many lines; the emulators' protocol tables are exempt.
MAX_MODULE_LINES = 400


@dataclass(frozen=True)
class Imported:
    """One import: the module that does it, and the dotted name it imports."""

    module: Path
    name: str


def _top_level_packages() -> list[str]:
    return sorted(
        path.parent.name
        for path in REPO.glob("*/__init__.py")
        if path.parent.name not in ON_TOP and not path.parent.name.startswith(".")
    )


@cache
def packages() -> frozenset[str]:
    """Every package and sub-package of the project, dotted (``renderfarm_azure.webhooks``)."""
    found: set[str] = set()
    for top in _top_level_packages():
        for init in (REPO / top).rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(REPO).parts))
    return frozenset(found)


def _modules(package: str) -> Iterator[Path]:
    """The modules directly in ``package`` (not in its sub-packages)."""
    yield from sorted((REPO / package.replace(".", "/")).glob("*.py"))


def _package_of(module: Path) -> str:
    return ".".join(module.parent.relative_to(REPO).parts)


def _imports(module: Path) -> Iterator[Imported]:
    """Every name ``module`` imports, relative imports made absolute; ``from a import b`` gives
    ``a.b`` (b may be a module or a sub-package) as well as ``a``."""
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Imported(module, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = _package_of(module).split(".")
                parent = parts[: len(parts) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            yield Imported(module, base)
            for alias in node.names:
                yield Imported(module, f"{base}.{alias.name}")


def _package_imported(name: str) -> str | None:
    """The deepest project package that ``name`` is, or holds; None outside the project."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in packages():
            return candidate
    return None


@cache
def graph() -> dict[str, frozenset[str]]:
    """Package -> the other project packages its own modules import."""
    edges: dict[str, frozenset[str]] = {}
    for package in packages():
        targets = {
            _package_imported(imported.name)
            for module in _modules(package)
            for imported in _imports(module)
        }
        edges[package] = frozenset(t for t in targets if t is not None and t != package)
    return edges


def _top(package: str) -> str:
    return package.partition(".")[0]


def _related(a: str, b: str) -> bool:
    """One package is the other's, or holds it."""
    return a.startswith(b + ".") or b.startswith(a + ".")


def top_level_graph() -> dict[str, frozenset[str]]:
    """Top-level package -> the other top-level packages its modules (sub-packages' too) import."""
    edges: dict[str, set[str]] = {}
    for package, targets in graph().items():
        edges.setdefault(_top(package), set()).update(
            _top(t) for t in targets if _top(t) != _top(package)
        )
    return {package: frozenset(targets) for package, targets in edges.items()}


def sub_package_graph() -> dict[str, frozenset[str]]:
    """The package graph less the edges between a package and its own sub-packages."""
    return {
        package: frozenset(t for t in targets if not _related(package, t))
        for package, targets in graph().items()
    }


def find_cycle(edges: dict[str, frozenset[str]]) -> list[str] | None:
    """One cycle of the graph as a path (its first node repeated at the end), or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for target in sorted(edges.get(node, ())):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(edges):
        if start not in done and (cycle := visit(start)) is not None:
            return cycle
    return None


def imports_under(folder: str) -> list[Imported]:
    """Every import of every module under ``folder`` (a package or ``bench``), sub-packages too."""
    return [
        imported
        for module in sorted((REPO / folder).rglob("*.py"))
        for imported in _imports(module)
    ]


def offending(folder: str, forbidden: set[str]) -> list[str]:
    """``module: name`` for each import under ``folder`` of a forbidden package or module
    (``azure`` forbids ``azure.storage.blob``; ``renderfarm`` forbids
    ``renderfarm.shared.settings``)."""
    return sorted(
        f"{imported.module.relative_to(REPO)}: {imported.name}"
        for imported in imports_under(folder)
        if any(imported.name == bad or imported.name.startswith(bad + ".") for bad in forbidden)
    )


def test_the_graph_sees_the_packages_it_judges() -> None:
    assert {"renderfarm", "functions", "dashboard", "webapp", "renderfarm_client"} <= packages()
    assert "functions.routes" in packages() and "tests" not in packages()
    assert "functions" in graph()["webapp"] and "dashboard" in graph()["webapp"]


def test_a_cycle_is_found_when_there_is_one() -> None:
    assert find_cycle({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"})}) == [
        "a",
        "b",
        "c",
        "a",
    ]
    assert find_cycle({"a": frozenset({"b"}), "b": frozenset()}) is None


def test_no_package_imports_one_that_imports_it_back() -> None:
    assert find_cycle(top_level_graph()) is None


def test_no_sub_package_imports_a_sibling_or_stranger_that_imports_it_back() -> None:
    assert find_cycle(sub_package_graph()) is None


def test_the_api_and_the_dashboard_do_not_import_each_other() -> None:
    assert offending("functions", {"dashboard", "webapp"}) == []
    assert offending("dashboard", {"functions", "webapp"}) == []


def test_the_domain_core_imports_no_sdk_no_web_framework_and_no_blender() -> None:
    assert offending("renderfarm", {"azure", "fastapi", "starlette", "bpy"}) == []


def test_the_client_library_needs_neither_the_local_farm_nor_the_api() -> None:
    far_side = {
        "renderfarm_local",
        "renderfarm_cli",
        "renderfarm_azure",
        "functions",
        "dashboard",
        "webapp",
        "web_deps",
        "containerapp_worker",
        "azure",
    }
    assert offending("renderfarm_client", far_side) == []
    # Of the domain package, only the wire shapes (standard library only).
    domain = [
        imported.name
        for imported in imports_under("renderfarm_client")
        if imported.name.split(".", 1)[0] == "renderfarm"
    ]
    assert set(domain) <= {"renderfarm.wire", *(f"renderfarm.wire.{n}" for n in _wire_names())}


def _wire_names() -> set[str]:
    tree = ast.parse((REPO / "renderfarm" / "wire.py").read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def test_the_benchmarks_and_the_test_bed_borrow_nothing_from_the_tests() -> None:
    assert offending("bench", {"tests"}) == []
    assert offending("testbed", {"tests", "bench"}) == []


def _project_modules() -> Iterator[Path]:
    for path in sorted(REPO.rglob("*.py")):
        relative = path.relative_to(REPO)
        if relative.parts[0].startswith(".") or relative.parts[0] in {"node_modules", "emulators"}:
            continue
        yield path


def test_no_module_outside_the_emulators_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(REPO)): lines
        for path in _project_modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
