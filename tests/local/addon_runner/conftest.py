"""The built add-on's runner module and the traced project, made once for the add-on runner's
tests, and a scripted farm per test."""

from __future__ import annotations

import importlib
import shutil
import sys
import types
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from scripts.build_addon import build
from tests.http_stub import http_stub
from tests.local.addon_runner.stand_in_farm import PACKAGE, Farm
from tests.projects import Project, build_project, layout


@pytest.fixture(scope="package")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The built add-on's ``runner`` module, with its vendored client core. Its package's
    ``__init__`` needs bpy, so the package is made here, from the zip's folder, without it."""
    root = tmp_path_factory.mktemp("addon")
    with zipfile.ZipFile(build(root / "dist")) as archive:
        archive.extractall(root / "renderfarm")
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(root / "renderfarm")]
    sys.modules[PACKAGE] = package
    try:
        yield importlib.import_module(f"{PACKAGE}.runner")
    finally:
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.fixture(scope="package")
def template(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The project, built once for the package (bpy in a subprocess); each test works on a copy."""
    return build_project(tmp_path_factory.mktemp("template"))


@pytest.fixture
def project(template: Project, tmp_path: Path) -> Project:
    """This test's copy. The absolute-path texture stays the template's (outside the copy)."""
    shutil.copytree(template.root, tmp_path / "project")
    copy = layout(tmp_path)
    textures = {**copy.textures, "outside": template.textures["outside"]}
    return replace(copy, textures=textures, outside_dir=template.outside_dir)


@pytest.fixture
def farm_factory() -> Iterator[Callable[..., Farm]]:
    stack: list[Any] = []

    def start(farm: Farm | None = None, **stub_options: Any) -> Farm:
        farm = farm or Farm()
        context = http_stub(farm.answer, **stub_options)
        farm.stub = context.__enter__()
        stack.append(context)
        return farm

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)
