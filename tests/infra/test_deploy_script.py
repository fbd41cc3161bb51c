"""infra/deploy.sh: shellcheck-clean, and against a stand-in `az` on PATH it issues the
expected commands in order, previews without changing anything, and stores only a key's hash."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra import stand_in_az
from tests.infra.bicep_files import INFRA, tool

DEPLOY = INFRA / "deploy.sh"
MUTATING = (
    "group create",
    "deployment group create",
    "acr build",
    "containerapp update",
    "containerapp job update",
    "functionapp deployment source config-zip",
    "keyvault secret set",
)


@dataclass(frozen=True, kw_only=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[dict[str, Any]]

    @property
    def commands(self) -> list[str]:
        return [" ".join(stand_in_az.command_words(c["argv"])) for c in self.calls]

    def call(self, command: str) -> list[str]:
        """The arguments of the one call of this command."""
        (argv,) = [
            c["argv"] for c, name in zip(self.calls, self.commands, strict=True) if name == command
        ]
        return list(argv)


@pytest.fixture
def fake_azure(tmp_path: Path) -> Path:
    """A bin folder holding the stand-in `az`, and its state file beside it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(
        f"#!{sys.executable}\n" + Path(stand_in_az.__file__).read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    az.chmod(0o755)
    set_state(tmp_path, logged_in=True, group_exists=True, registry="", existing_keys=0)
    return tmp_path


def set_state(root: Path, **state: Any) -> None:
    (root / "state.json").write_text(json.dumps(state), encoding="utf-8")


def deploy(root: Path, *args: str, path: str | None = None) -> Run:
    log = root / "az.log"
    log.touch()
    env = {
        **os.environ,
        "PATH": path if path is not None else f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "AZ_LOG": str(log),
        "AZ_STATE": str(root / "state.json"),
        "RENDERFARM_DEPLOY_RETRY_SECONDS": "0",
    }
    done = subprocess.run(
        ["bash", str(DEPLOY), "--resource-group", "rg-test", "--image-tag", "t1", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=90,
    )
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return Run(returncode=done.returncode, stdout=done.stdout, stderr=done.stderr, calls=calls)


def in_order(commands: list[str], expected: list[str]) -> bool:
    """Whether expected occurs in commands as a subsequence."""
    remaining = iter(commands)
    return all(any(c == e for c in remaining) for e in expected)


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
    assert what_if[what_if.index("--template-file") + 1] == "infra/main.bicep"
    assert "@infra/main.parameters.json" in what_if
    assert "workerImage=" in what_if, "no registry yet: the preview deploys the placeholder"


def test_what_if_on_a_missing_group_says_so_and_creates_nothing(fake_azure: Path) -> None:
    set_state(fake_azure, logged_in=True, group_exists=False, registry="", existing_keys=0)
    run = deploy(fake_azure, "--what-if")
    assert run.returncode == 0, run.stderr
    assert "would create resource group rg-test" in run.stderr
    assert not any(command in MUTATING for command in run.commands)


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
    build = run.call("acr build")
    assert build[build.index("--registry") + 1] == "crabc"
    assert build[build.index("--image") + 1] == "renderfarm-worker:t1"
    assert build[build.index("--file") + 1] == "containerapp_worker/Dockerfile"
    update = run.call("containerapp update")
    assert update[update.index("--image") + 1] == "crabc.azurecr.io/renderfarm-worker:t1"
    assert "https://func-abc.azurewebsites.net/api" in run.stdout


def test_later_deployment_builds_the_image_first_and_keeps_the_existing_key(
    fake_azure: Path,
) -> None:
    set_state(
        fake_azure, logged_in=True, group_exists=True, registry="crabc.azurecr.io", existing_keys=1
    )
    run = deploy(fake_azure)
    assert run.returncode == 0, run.stderr
    assert in_order(
        run.commands,
        ["acr build", "deployment group what-if", "deployment group create"],
    ), run.commands
    create = run.call("deployment group create")
    assert "workerImage=crabc.azurecr.io/renderfarm-worker:t1" in create
    assert "containerapp update" not in run.commands
    assert "keyvault secret set" not in run.commands
    assert "already has an API key" in run.stderr


def test_api_key_is_printed_once_and_only_its_hash_reaches_key_vault(fake_azure: Path) -> None:
    run = deploy(fake_azure, "--tenant", "studio-7")
    assert run.returncode == 0, run.stderr
    keys = [line.strip() for line in run.stdout.splitlines() if line.strip().startswith("rf_")]
    (key,) = keys
    secret = run.call("keyvault secret set")
    name = secret[secret.index("--name") + 1]
    assert name.startswith("apikey-studio-7-")
    assert secret[secret.index("--value") + 1] == (
        "studio-7=" + hashlib.sha256(key.encode()).hexdigest()
    )
    assert "tenant=studio-7" in secret
    assert key not in json.dumps(run.calls), "the plaintext key went to az"
    assert key not in run.stderr


def test_function_package_leaves_out_what_funcignore_names(fake_azure: Path) -> None:
    run = deploy(fake_azure)
    assert run.returncode == 0, run.stderr
    (upload,) = [c for c in run.calls if "zip_members" in c]
    members = set(upload["zip_members"])
    assert "renderfarm/settings.py" in members
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
    set_state(fake_azure, logged_in=False, group_exists=True, registry="", existing_keys=0)
    run = deploy(fake_azure)
    assert run.returncode != 0
    assert "not logged in: run 'az login'" in run.stderr
    assert run.commands == ["account show"]
