"""Where the infra lives and how the tests read it: Bicep parsed offline by pycep-parser."""

from __future__ import annotations

import json
import re
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
#: One file per Blender pool: <major.minor>.txt, its first line '# python: X.Y', then bpy pins.
BLENDER_POOLS = REPO_ROOT / "containerapp_worker" / "blender-pools"

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


def unwrap(config: Any) -> Any:
    """A body unwrapped from its `[for ...: ...]` loop and its `if (...)` condition, if any."""
    while (
        isinstance(config, dict)
        and "config" in config
        and ("loop_type" in config or "condition" in config)
    ):
        config = config["config"]
    return config


def resource(doc: Bicep, name: str) -> Bicep:
    """A resource's body, unwrapped from its loop and its condition when it has them."""
    return cast(Bicep, unwrap(doc["resources"][name]["config"]))


def loop_source(doc: Bicep, name: str) -> Any:
    """What a looped resource iterates over (pycep's array_name or object_name)."""
    detail = doc["resources"][name]["config"]["loop_type"]["detail"]
    return detail.get("array_name", detail.get("object_name"))


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def blender_pools() -> dict[str, str]:
    """Blender version (major.minor) -> the Python its bpy ships for, from the pool files."""
    pools: dict[str, str] = {}
    for path in sorted(BLENDER_POOLS.glob("*.txt")):
        first_line = path.read_text(encoding="utf-8").splitlines()[0]
        match = re.fullmatch(r"# python: (\d+\.\d+)", first_line.strip())
        assert match, f"{path}: the first line must be '# python: X.Y', not {first_line!r}"
        pools[path.stem] = match.group(1)
    return pools


def tool(name: str) -> Path:
    """A tool from the tools venv; missing is a failure, since `make test` installs it."""
    path = TOOLS_BIN / name
    if not path.exists():
        pytest.fail(
            f"{path} is missing: create the tools venv with `python3 -m venv .venv-tools && "
            f".venv-tools/bin/pip install -r infra/requirements-tools.txt` (make does this)"
        )
    return path
