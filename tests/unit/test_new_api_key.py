"""renderfarm.keys.new_key, which infra/deploy.sh runs with whatever python3 the deployer has:
the standard library only, and the same names and values as `renderfarm keys create`."""

from __future__ import annotations

import re
import subprocess
import sys

from renderfarm.keys.api_keys import hash_key
from renderfarm_local.services import REPO


def run(*args: str) -> subprocess.CompletedProcess[str]:
    # -S: no site-packages, so an import of anything outside the standard library fails here.
    return subprocess.run(
        [sys.executable, "-S", "-m", "renderfarm.keys.new_key", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_one_line_with_the_key_its_id_its_secret_and_its_hash() -> None:
    done = run("studio-7")
    assert done.returncode == 0, done.stderr
    key, key_id, name, value = done.stdout.split()
    assert key.startswith("rf_")
    assert re.fullmatch(r"[0-9a-f]{8}", key_id), "a key id is 8 hex digits"
    assert name == f"apikey-studio-7-{key_id}"
    assert value == f"studio-7={hash_key(key)}"


def test_a_bad_tenant_is_refused() -> None:
    done = run("Studio_7")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: tenant")
