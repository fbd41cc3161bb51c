"""Where the infra lives and how the tests read it: Bicep parsed offline by pycep-parser."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest
from pycep import BicepParser

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
MAIN_BICEP = INFRA / "main.bicep"
MODULES = INFRA / "modules"
TOOLS_BIN = REPO_ROOT / ".venv-tools" / "bin"

Bicep = dict[str, Any]


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def parse(path: Path) -> Bicep:
    """The file as pycep's dict: parameters, variables, resources, modules, outputs."""
    return cast(Bicep, BicepParser().parse(file_path=path))


def module(name: str) -> Bicep:
    return parse(MODULES / f"{name}.bicep")


def variable(doc: Bicep, name: str) -> Any:
    return doc["variables"][name]["value"]


def resource(doc: Bicep, name: str) -> Bicep:
    """A resource's body, unwrapped from its `if (...)` condition when it has one."""
    config = cast(Bicep, doc["resources"][name]["config"])
    if "condition" in config and "config" in config:
        return cast(Bicep, config["config"])
    return config


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def tool(name: str) -> Path:
    """A tool from the tools venv; missing is a failure, since `make test` installs it."""
    path = TOOLS_BIN / name
    if not path.exists():
        pytest.fail(
            f"{path} is missing: create the tools venv with `python3 -m venv .venv-tools && "
            f".venv-tools/bin/pip install -r infra/requirements-tools.txt` (make does this)"
        )
    return path
