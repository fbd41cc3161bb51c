"""infra/deploy.sh: shellcheck-clean, and against a stand-in `az` on PATH it issues the
expected commands in order, builds one image per Blender pool, previews without changing
anything, retries what waits on fresh role assignments, picks only its own farm's resources and
stores only a key's hash."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra import stand_in_az
from tests.infra.bicep_files import REPO_ROOT, blender_pools, tool
from tests.infra.deploy_runs import (
    DEPLOY,
    MUTATING,
    RETRIED,
    build_args,
    deploy,
    farm_registry,
    in_order,
    set_state,
    value_of,
)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository as a fresh clone has it: tracked and new files, nothing git ignores.
    deploy.sh packages the Function code from its root, where local venvs (a GB each) would
    make every run slow; tests/infra/test_package_function.py checks .funcignore drops them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    root = tmp_path_factory.mktemp("checkout")
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    return root


@pytest.fixture
def fake_azure(tmp_path: Path, checkout: Path) -> Path:
    """A bin folder holding the stand-in `az`, its state file beside it, and `repo`: the
    checkout whose infra/deploy.sh runs."""
    (tmp_path / "repo").symlink_to(checkout)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(
        f"#!{sys.executable}\n" + Path(stand_in_az.__file__).read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    az.chmod(0o755)
    set_state(tmp_path)
    return tmp_path


def test_deploy_script_passes_shellcheck() -> None:
    shellcheck = tool("shellcheck")
    done = subprocess.run(
        [str(shellcheck), "--external-sources", str(DEPLOY)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_deploy_script_is_strict_bash() -> None:
    text = DEPLOY.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert os.access(DEPLOY, os.X_OK)


def test_what_if_previews_the_deployment_and_changes_nothing(fake_azure: Path) -> None:
    run = deploy(fake_azure, "--what-if")
    assert run.returncode == 0, run.stderr
    assert run.commands == [
        "account show",
        "account show",
        "ad signed-in-user show",
        "group exists",
        "acr list",
        "deployment group what-if",
    ]
    what_if = run.call("deployment group what-if")
    assert value_of(what_if, "--template-file") == "infra/main.bicep"
    assert value_of(what_if, "--name") == "renderfarm", "the deployment is named after the farm"
    assert "@infra/main.parameters.json" in what_if
    assert "workerImageTag=" in what_if, "no registry yet: the preview deploys the placeholder"


def test_what_if_on_a_missing_group_says_so_and_creates_nothing(fake_azure: Path) -> None:
    set_state(fake_azure, group_exists=False)
    run = deploy(fake_azure, "--what-if")
    assert run.returncode == 0, run.stderr
    assert "would create resource group rg-test" in run.stderr
    assert not any(command in MUTATING for command in run.commands)


def test_the_deployment_runs_every_blender_pool_of_the_repository(fake_azure: Path) -> None:
    run = deploy(fake_azure, "--what-if")
    assert run.returncode == 0, run.stderr
    (versions,) = [
        arg.removeprefix("blenderVersions=")
        for arg in run.call("deployment group what-if")
        if arg.startswith("blenderVersions=")
    ]
    assert sorted(json.loads(versions)) == sorted(blender_pools())


def test_first_deployment_runs_what_if_then_create_then_builds_publishes_and_stores_a_key(
    fake_azure: Path,
) -> None:
    run = deploy(fake_azure)
    assert run.returncode == 0, run.stderr
    assert in_order(
        run.commands,
        [
            "group create",
            "deployment group what-if",
            "deployment group create",
            "acr build",
            "containerapp update",
            "functionapp deployment source config-zip",
            "keyvault secret list",
            "keyvault secret set",
        ],
    ), run.commands
    assert "workerImageTag=" in run.call("deployment group create"), "placeholder on first run"
    assert "https://func-abc.azurewebsites.net/api" in run.stdout


def test_first_deployment_builds_and_switches_one_image_per_blender_pool(
    fake_azure: Path,
) -> None:
    run = deploy(fake_azure)
    assert run.returncode == 0, run.stderr
    pools = blender_pools()
    builds = run.calls_of("acr build")
    assert len(builds) == len(pools)
    for build in builds:
        assert value_of(build, "--registry") == "crabc"
        assert value_of(build, "--file") == "containerapp_worker/Dockerfile"
        args = build_args(build)
        version = args["BLENDER"]
        assert args["PYTHON"] == pools[version], "the Python line of the pool's file"
        assert value_of(build, "--image") == f"renderfarm-worker:t1-blender-{version}"
    assert sorted(build_args(b)["BLENDER"] for b in builds) == sorted(pools)
    updates = {
        value_of(u, "--name"): value_of(u, "--image") for u in run.calls_of("containerapp update")
    }
    assert updates == {
        stand_in_az.worker_name(v): f"crabc.azurecr.io/renderfarm-worker:t1-blender-{v}"
        for v in pools
    }


def test_later_deployment_builds_the_images_first_and_keeps_the_existing_key(
    fake_azure: Path,
) -> None:
    set_state(fake_azure, registries=[farm_registry("crabc.azurecr.io")], existing_keys=1)
    run = deploy(fake_azure)
    assert run.returncode == 0, run.stderr
    assert in_order(
        run.commands,
        ["acr build", "deployment group what-if", "deployment group create"],
    ), run.commands
    assert len(run.calls_of("acr build")) == len(blender_pools())
    create = run.call("deployment group create")
    assert "workerImageTag=t1" in create, "the Bicep points each pool at <tag>-blender-<version>"
    assert "containerapp update" not in run.commands
    assert "keyvault secret set" not in run.commands
    assert "already has an API key" in run.stderr


def test_another_farm_in_the_same_resource_group_is_never_picked(fake_azure: Path) -> None:
    set_state(fake_azure, registries=[farm_registry("crother.azurecr.io", "other-farm")])
    run = deploy(fake_azure)
    assert run.returncode == 0, run.stderr
    assert "environment=='renderfarm'" in value_of(run.call("acr list"), "--query")
    builds = run.calls_of("acr build")
    assert {value_of(b, "--registry") for b in builds} == {"crabc"}, "its own, from the outputs"
    assert "crother" not in json.dumps(run.calls)


def test_the_farm_name_names_the_deployment_and_the_registry_it_picks(fake_azure: Path) -> None:
    set_state(
        fake_azure,
        registries=[
            farm_registry("crabc.azurecr.io", "renderfarm"),
            farm_registry("crxyz.azurecr.io", "studio-b"),
        ],
    )
    run = deploy(fake_azure, "--environment-name", "studio-b")
    assert run.returncode == 0, run.stderr
    assert value_of(run.call("deployment group create"), "--name") == "studio-b"
    assert {value_of(b, "--registry") for b in run.calls_of("acr build")} == {"crxyz"}


@pytest.mark.parametrize("command", RETRIED)
def test_calls_that_wait_on_fresh_role_assignments_are_retried(
    fake_azure: Path, command: str
) -> None:
    set_state(fake_azure, failures={command: 2})
    run = deploy(fake_azure)
    assert run.returncode == 0, run.stderr
    attempts = [c["rc"] for c, name in zip(run.calls, run.commands, strict=True) if name == command]
    assert attempts[:3] == [1, 1, 0]
    assert "waiting for the role assignments" in run.stderr


def test_a_role_assignment_that_never_takes_effect_fails_with_one_clear_line(
    fake_azure: Path,
) -> None:
    set_state(fake_azure, failures={"keyvault secret list": 99})
    run = deploy(fake_azure)
    assert run.returncode != 0
    assert run.commands.count("keyvault secret list") == 6
    assert "listing the API keys in kv-abc failed 6 times" in run.stderr
    assert "keyvault secret set" not in run.commands


@pytest.mark.parametrize(
    ("name", "first_line", "message"),
    [
        ("5.x.txt", "# python: 3.13", "a pool file is named <major.minor>.txt"),
        ("9.9.txt", "bpy==9.9.0", "the first line must be '# python: X.Y'"),
    ],
)
def test_a_malformed_pool_file_stops_the_deployment_before_it_changes_anything(
    fake_azure: Path, checkout: Path, name: str, first_line: str, message: str
) -> None:
    repo = fake_azure / "repo"
    repo.unlink()
    shutil.copytree(checkout, repo)
    (repo / "containerapp_worker" / "blender-pools" / name).write_text(
        first_line + "\n", encoding="utf-8"
    )
    run = deploy(fake_azure)
    assert run.returncode != 0
    assert message in run.stderr
    assert not any(command in MUTATING for command in run.commands)


def test_api_key_is_printed_once_and_only_its_hash_reaches_key_vault(fake_azure: Path) -> None:
    run = deploy(fake_azure, "--tenant", "studio-7")
    assert run.returncode == 0, run.stderr
    keys = [line.strip() for line in run.stdout.splitlines() if line.strip().startswith("rf_")]
    (key,) = keys
    secret = run.call("keyvault secret set")
    name = value_of(secret, "--name")
    assert name.startswith("apikey-studio-7-")
    assert value_of(secret, "--value") == "studio-7=" + hashlib.sha256(key.encode()).hexdigest()
    assert "tenant=studio-7" in secret
    # Named and tagged as `renderfarm keys create` does (renderfarm/keys/new_key.py), so
    # `renderfarm keys list` and `revoke` know the first key too.
    key_id = name.removeprefix("apikey-studio-7-")
    assert re.fullmatch(r"[0-9a-f]{8}", key_id), "a key id is 8 hex digits"
    assert f"key-id={key_id}" in secret
    assert key not in json.dumps(run.calls), "the plaintext key went to az"
    assert key not in run.stderr


def test_function_package_leaves_out_what_funcignore_names(fake_azure: Path) -> None:
    run = deploy(fake_azure)
    assert run.returncode == 0, run.stderr
    (upload,) = [c for c in run.calls if "zip_members" in c]
    members = set(upload["zip_members"])
    assert "renderfarm/shared/settings.py" in members
    assert not any(m.startswith(("tests/", "infra/", ".venv", "emulators/")) for m in members)


def test_missing_az_is_a_clear_error(fake_azure: Path) -> None:
    bare = fake_azure / "bare"
    bare.mkdir()
    for name in ("bash", "dirname"):
        found = shutil.which(name)
        assert found, name
        (bare / name).symlink_to(found)
    run = deploy(fake_azure, path=str(bare))
    assert run.returncode != 0
    assert "Azure CLI (az) is not on PATH" in run.stderr
    assert run.calls == []


def test_not_logged_in_is_a_clear_error(fake_azure: Path) -> None:
    set_state(fake_azure, logged_in=False)
    run = deploy(fake_azure)
    assert run.returncode != 0
    assert "not logged in: run 'az login'" in run.stderr
    assert run.commands == ["account show"]
