"""One worker image per Blender pool, all from containerapp_worker/Dockerfile: the pool files
name each pool's Python and pin its bpy, the Dockerfile's defaults are a real pool, the build
context lets the pool files in, and the Bicep runs the image deploy.sh builds for each pool."""

from __future__ import annotations

import fnmatch
import re

import pytest

from tests.infra.bicep_files import (
    BLENDER_POOLS,
    INFRA,
    MAIN_BICEP,
    REPO_ROOT,
    blender_pools,
    module,
    parse,
    unwrap,
    variable,
)

DOCKERFILE = REPO_ROOT / "containerapp_worker" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


def dockerfile_arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert match, f"the Dockerfile has no ARG {name} with a default"
    return match.group(1)


def dockerignored(path: str) -> bool:
    """Whether `docker build` leaves `path` out of the context: the last matching rule wins,
    a rule on a folder covers what is inside it (the subset of .dockerignore this file uses)."""
    ignored = False
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        pattern = rule.removeprefix("!").rstrip("/").removeprefix("**/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        names = parts if rule.removeprefix("!").startswith("**/") else []
        if any(fnmatch.fnmatchcase(p, pattern) for p in prefixes + names):
            ignored = not negated
    return ignored


@pytest.mark.parametrize("version", sorted(blender_pools()))
def test_each_pool_file_pins_the_bpy_of_its_blender(version: str) -> None:
    assert re.fullmatch(r"\d+\.\d+", version), "pool files are named <major.minor>.txt"
    text = (BLENDER_POOLS / f"{version}.txt").read_text(encoding="utf-8")
    pins = re.findall(r"^bpy==(\S+)$", text, re.M)
    assert len(pins) == 1 and pins[0].startswith(f"{version}."), pins


def test_dockerfile_defaults_are_the_default_pool_on_its_python() -> None:
    blender, python = dockerfile_arg("BLENDER"), dockerfile_arg("PYTHON")
    assert blender_pools()[blender] == python
    assert python == "3.13", "the default pool runs on the project's Python"
    assert blender in parse(MAIN_BICEP)["parameters"]["blenderVersions"]["default"]


def test_dockerfile_installs_the_pool_and_checks_its_blender() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "FROM python:${PYTHON}-slim-bookworm" in text
    assert "containerapp_worker/blender-pools/${BLENDER}.txt" in text
    assert "--requirement /app/requirements.txt --requirement /app/blender-pool.txt" in text
    assert "bpy.app.version_string" in text and "startswith(sys.argv[1] + '.')" in text
    common = (REPO_ROOT / "containerapp_worker" / "requirements.txt").read_text(encoding="utf-8")
    assert not re.search(r"^bpy\b", common, re.M), "bpy comes from the pool file only"


@pytest.mark.parametrize("version", sorted(blender_pools()))
def test_the_build_context_lets_each_pool_file_in(version: str) -> None:
    assert not dockerignored(f"containerapp_worker/blender-pools/{version}.txt")
    assert not dockerignored("containerapp_worker/requirements.txt")
    assert dockerignored("tests/infra/test_worker_image.py")
    assert dockerignored("containerapp_worker/__pycache__/app.cpython-313.pyc")


def test_each_pool_runs_the_image_deploy_sh_builds_for_it() -> None:
    doc = module("containerapps")
    (container,) = unwrap(variable(doc, "poolContainers"))
    image = container["image"]["operator"]["operands"]
    assert image["false_value"] == (
        "${registryLoginServer}/${imageRepository}:${workerImageTag}-blender-${pool.blenderVersion}"
    )
    repository = doc["parameters"]["imageRepository"]["default"]
    deploy = (INFRA / "deploy.sh").read_text(encoding="utf-8")
    assert f'readonly IMAGE_REPOSITORY="{repository}"' in deploy
    assert '"$IMAGE_REPOSITORY:$image_tag-blender-$version"' in deploy
