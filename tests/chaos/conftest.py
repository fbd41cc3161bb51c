"""A local farm to be hurt: Blender workers, and SIGKILLs of its parts mid-job.

Run the group alone with ``pytest -m chaos``. The render-chunks queues here lock for 10 s rather
than the farm's 30 s, so each killed worker's chunk comes back sooner; what a kill costs with the
real lock is measured by ``bench/worker_kill.py``.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from renderfarm.shared import blob_layout
from renderfarm_client.farm_api import FarmClient, JobProgress
from renderfarm_local.farm_layout import FarmLayout, FarmPorts
from renderfarm_local.local_farm import LocalFarm
from renderfarm_local.services import SERVICEBUS_CONFIG
from renderfarm_local.supervisor import ServiceState
from testbed.scenes import build_cycles_scene
from tests.local.conftest import TEST_SCALING

LOCK_SECONDS = 10
JOB_WAIT_S = 180.0
#: Tiny frames, with samples enough that a chunk lasts a few seconds and kills land mid-chunk.
RENDER = {"resolution_x": 64, "resolution_y": 48, "samples": 256, "output_format": "PNG"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: SIGKILLs parts of a local farm mid-job")


def short_lock_config(target: Path) -> Path:
    """The farm's emulator config with the render-chunks queues' lock at LOCK_SECONDS."""
    config = json.loads(SERVICEBUS_CONFIG.read_text(encoding="utf-8"))
    for namespace in config["UserConfig"]["Namespaces"]:
        for queue in namespace["Queues"]:
            if queue["Name"].startswith("render-chunks"):
                queue["Properties"]["LockDuration"] = f"PT{LOCK_SECONDS}S"
    target.write_text(json.dumps(config), encoding="utf-8")
    return target


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = JOB_WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@dataclass(frozen=True, kw_only=True)
class HurtFarm:
    farm: LocalFarm
    scene: Path

    def client(self) -> FarmClient:
        endpoints = self.farm.endpoints
        return FarmClient(api_url=endpoints.api_url, api_key=endpoints.api_key)

    def jobs_container(self) -> ContainerClient:
        service = BlobServiceClient.from_connection_string(
            self.farm.endpoints.storage_connection_string
        )
        return service.get_container_client(blob_layout.JOBS_CONTAINER)

    def chunk_records(self, job_id: str) -> list[dict[str, Any]]:
        container = self.jobs_container()
        return [
            json.loads(container.download_blob(blob.name).readall())
            for blob in container.list_blobs(name_starts_with=blob_layout.chunks_prefix(job_id))
        ]

    def frame_writes(self, job_id: str) -> list[int]:
        """The frames of ``job_id`` that workers wrote, once per write, from their JSON logs."""
        frames: list[int] = []
        for log in self.farm.layout.logs.glob("worker*.log"):
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
                if '"uploaded"' not in line:
                    continue
                entry = json.loads(line)
                if entry.get("job_id") == job_id and entry.get("status") == "uploaded":
                    frames.append(int(entry["frame"]))
        return frames

    def kill_service(self, name: str) -> None:
        """SIGKILL a service, then wait until the supervisor has it running again."""
        before = self.restarts(name)
        self.farm.service_process(name).signal_group(signal.SIGKILL)
        wait_for(
            lambda: self.restarts(name) > before and self.state(name) is ServiceState.RUNNING,
            f"the supervisor to restart {name}",
            timeout_s=30,
        )

    def restarts(self, name: str) -> int:
        return next(h.restarts for h in self.farm.service_health() if h.name == name)

    def state(self, name: str) -> ServiceState:
        return next(h.state for h in self.farm.service_health() if h.name == name)

    def wait_until_over(self, job_id: str) -> JobProgress:
        with self.client() as client:
            progress = client.status(job_id, with_frames=False)
            deadline = time.monotonic() + JOB_WAIT_S
            while not progress.is_over and time.monotonic() < deadline:
                time.sleep(0.5)
                progress = client.status(job_id, with_frames=False)
            return client.status(job_id)

    def wait_for_frames(self, job_id: str, at_least: int) -> None:
        with self.client() as client:
            wait_for(
                lambda: client.status(job_id, with_frames=False).frames_done >= at_least,
                f"{at_least} frames of job {job_id}",
            )


@pytest.fixture(scope="module")
def hurt_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HurtFarm]:
    """One farm for the module: each test hurts it, and the next finds it healed."""
    tmp_path = tmp_path_factory.mktemp("hurt-farm")
    farm = LocalFarm(
        layout=FarmLayout(root=tmp_path / "farm"),
        ports=FarmPorts.free(),
        scaling=replace(TEST_SCALING, max_replicas=2),
        servicebus_config=short_lock_config(tmp_path / "servicebus.json"),
    )
    scene = build_cycles_scene(tmp_path / "scene.blend")
    farm.start()
    try:
        yield HurtFarm(farm=farm, scene=scene)
    finally:
        farm.stop()
