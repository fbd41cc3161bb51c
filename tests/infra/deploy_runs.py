"""Running infra/deploy.sh against the stand-in `az` (tests/infra/stand_in_az.py): the state the
stand-in starts from, the run, and the calls it made, in order."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.infra import stand_in_az
from tests.infra.bicep_files import INFRA

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
#: The calls deploy.sh must retry: each waits on a role assignment the deployment has just made.
RETRIED = (
    "keyvault secret list",
    "keyvault secret set",
    "containerapp update",
    "functionapp deployment source config-zip",
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

    def calls_of(self, command: str) -> list[list[str]]:
        """The arguments of every call of this command, in order."""
        return [
            list(c["argv"])
            for c, name in zip(self.calls, self.commands, strict=True)
            if name == command
        ]

    def call(self, command: str) -> list[str]:
        """The arguments of the one call of this command."""
        (argv,) = self.calls_of(command)
        return argv


def value_of(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def build_args(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--build-arg"]
    return dict(pair.split("=", 1) for pair in pairs)


def farm_registry(login_server: str, environment: str = "renderfarm") -> dict[str, Any]:
    return {"loginServer": login_server, "tags": {"app": "renderfarm", "environment": environment}}


def set_state(  # noqa: PLR0913 - keyword-only: one per field of the stand-in az's state
    root: Path,
    *,
    logged_in: bool = True,
    group_exists: bool = True,
    registries: list[dict[str, Any]] | None = None,
    existing_keys: int = 0,
    failures: dict[str, int] | None = None,
) -> None:
    state = {
        "logged_in": logged_in,
        "group_exists": group_exists,
        "registries": registries or [],
        "existing_keys": existing_keys,
        "failures": failures or {},
    }
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
    script = root / "repo" / "infra" / "deploy.sh"
    done = subprocess.run(
        ["bash", str(script), "--resource-group", "rg-test", "--image-tag", "t1", *args],
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
