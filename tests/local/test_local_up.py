"""`renderfarm local up`: Ctrl-C stops every child it started, workers included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from renderfarm_local.services import REPO, http_json
from renderfarm_local.supervisor import free_port
from testbed.scenes import build_cycles_scene
from tests.local.conftest import CLI_TIMEOUT_S

pytestmark = [pytest.mark.local_farm, pytest.mark.slow]
WAIT_S = 60.0


def _children(pid: int) -> dict[int, str]:
    """The live direct children of ``pid`` and their command lines."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and stat.rsplit(")", 1)[1].split()[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_ctrl_c_stops_azurite_the_emulators_the_api_and_every_worker(tmp_path: Path) -> None:
    api_port = free_port()
    data_dir = tmp_path / "farm"
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "renderfarm_cli",
            "local",
            "up",
            "--free-ports",
            "--api-port",
            str(api_port),
            "--data-dir",
            str(data_dir),
            "--max-replicas",
            "1",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        api_url = f"http://127.0.0.1:{api_port}"
        _wait_for(lambda: http_json(f"{api_url}/api/health") is not None, "the API")
        scene = build_cycles_scene(tmp_path / "scene.blend")
        env = {
            **os.environ,
            "RENDERFARM_API_URL": api_url,
            "RENDERFARM_API_KEY": (data_dir / "api-key").read_text().strip(),
        }
        submitted = subprocess.run(
            [
                sys.executable,
                "-m",
                "renderfarm_cli",
                "submit",
                str(scene),
                "--frames",
                "1-400",
                "--chunk-size",
                "400",
                "--samples",
                "64",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        assert submitted.returncode == 0, submitted.stderr
        _wait_for(
            lambda: any("containerapp_worker" in c for c in _children(up.pid).values()), "a worker"
        )
        children = _children(up.pid)
        # Azurite's Blob and Table services, the Service Bus and Key Vault emulators, the API,
        # dead letters, job events, webhook deliveries, quote expiry, a worker
        assert len(children) == 10, children
        up.send_signal(signal.SIGINT)
        assert up.wait(CLI_TIMEOUT_S) == 0
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    stderr = up.stderr.read().decode() if up.stderr else ""
    assert "Traceback" not in stderr
    still_alive = [pid for pid in children if Path(f"/proc/{pid}").exists()]
    assert still_alive == []
