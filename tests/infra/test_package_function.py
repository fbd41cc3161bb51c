"""infra/package_function.py packages the Function App as `.funcignore` says."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.infra.bicep_files import INFRA, REPO_ROOT


def load_packager() -> ModuleType:
    spec = importlib.util.spec_from_file_location("package_function", INFRA / "package_function.py")
    assert spec is not None and spec.loader is not None
    packager = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is built.
    sys.modules[spec.name] = packager
    spec.loader.exec_module(packager)
    return packager


packager = load_packager()


def make_tree(root: Path, files: list[str], funcignore: str) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")
    (root / ".funcignore").write_text(funcignore, encoding="utf-8")


def packaged(root: Path, tmp_path: Path) -> set[str]:
    output = tmp_path / "out" / "app.zip"
    output.parent.mkdir()
    packager.build_package(root, output)
    with zipfile.ZipFile(output) as archive:
        return set(archive.namelist())


def test_anchored_folders_and_globs_are_left_out(tmp_path: Path) -> None:
    root = tmp_path / "app"
    make_tree(
        root,
        ["function_app.py", "pkg/a.py", "pkg/a.pyc", "tests/t.py", "pkg/tests/keep.py"],
        "# comment\n/tests/\n*.pyc\n.funcignore\n",
    )
    assert packaged(root, tmp_path) == {"function_app.py", "pkg/a.py", "pkg/tests/keep.py"}


def test_unanchored_name_is_left_out_at_any_depth(tmp_path: Path) -> None:
    root = tmp_path / "app"
    make_tree(root, ["a.py", "__pycache__/a.pyc", "pkg/__pycache__/b.pyc"], "__pycache__\n")
    assert packaged(root, tmp_path) == {"a.py", ".funcignore"}


def test_a_negated_rule_brings_a_file_back(tmp_path: Path) -> None:
    root = tmp_path / "app"
    make_tree(root, ["README.md", "docs.md", "a.py"], "*.md\n!README.md\n")
    assert packaged(root, tmp_path) == {"README.md", "a.py", ".funcignore"}


def test_output_inside_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "app"
    make_tree(root, ["a.py"], "")
    with pytest.raises(SystemExit):
        packager.main(["--root", str(root), "--output", str(root / "app.zip")])


def test_repository_funcignore_keeps_the_api_and_drops_the_rest(tmp_path: Path) -> None:
    rules = packager.parse_rules((REPO_ROOT / ".funcignore").read_text(encoding="utf-8"))

    def ignored(path: str, *, is_folder: bool = False) -> bool:
        result = packager.is_ignored(packager.PurePosixPath(path), is_folder=is_folder, rules=rules)
        assert isinstance(result, bool)
        return result

    for kept in (
        "function_app.py",
        "host.json",
        "requirements.txt",
        "renderfarm/shared/settings.py",
    ):
        assert not ignored(kept), kept
    for kept in ("webapp/app.py", "web_deps/services.py", "functions/routes/jobs.py"):
        assert not ignored(kept), kept
    # The client, the command and the test bed never run in the Function App.
    for folder in ("renderfarm_client", "renderfarm_cli", "renderfarm_local", "testbed"):
        assert ignored(folder, is_folder=True), folder
    for folder in ("tests", "infra", "emulators", "containerapp_worker", "bench", ".venv"):
        assert ignored(folder, is_folder=True), folder
    # Every local venv stays out: a Blender pool's (.venv-blender-<version>) is about a GB.
    for folder in (".venv-tools", ".venv-blender-4.5", ".venv-blender-9.9"):
        assert ignored(folder, is_folder=True), f"{folder} would ship in the Function package"
    assert ignored("local.settings.json")


def test_the_dashboards_templates_and_static_files_ship(tmp_path: Path) -> None:
    """The dashboard is served by the Function App: its pages, script and styles go with it."""
    members = {str(path) for path in packager.packaged_files(REPO_ROOT, _repository_rules())}
    dashboard = REPO_ROOT / "dashboard"
    wanted = {
        str(path.relative_to(REPO_ROOT))
        for folder in ("templates", "static")
        for path in (dashboard / folder).iterdir()
    }
    assert {"dashboard/templates/job.html", "dashboard/static/dashboard.js"} <= wanted
    assert wanted <= members, sorted(wanted - members)
    assert "dashboard/routes/jobs.py" in members
    assert not any(member.startswith("node_modules/") for member in members)


def _repository_rules() -> list[object]:
    rules: list[object] = packager.parse_rules(
        (REPO_ROOT / ".funcignore").read_text(encoding="utf-8")
    )
    return rules
