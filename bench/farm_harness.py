"""A whole local farm for benchmarks: Azurite, the Service Bus emulator, the API in-process and
one worker process, torn down afterwards."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import httpx

with warnings.catch_warnings():  # the figures only: not Starlette's note on its test client
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from emulators.servicebus.config import BUNDLED_CONFIG
from renderfarm.keys.api_keys import hash_key
from renderfarm.shared.settings import Settings
from renderfarm_local.services import python_env
from testbed.emulators import REPO, run_azurite, run_servicebus, stop_process
from webapp.app import create_app

API_KEY = "rf_bench-key-000001"
READY_TIMEOUT_S = 60


def _worker_env(settings: Settings, cache: Path) -> dict[str, str]:
    return python_env(
        {
            "RENDERFARM_STORAGE_CONNECTION_STRING": settings.storage_connection_string or "",
            "RENDERFARM_SERVICEBUS_CONNECTION_STRING": settings.servicebus_connection_string or "",
            "RENDERFARM_BLEND_CACHE_DIR": str(cache),
        }
    )


def _wait_ready(worker: subprocess.Popen[bytes]) -> None:
    """The worker logs a JSON line with "status": "ready" once it is waiting for messages."""
    assert worker.stderr is not None
    deadline = time.monotonic() + READY_TIMEOUT_S
    for line in worker.stderr:
        if b'"status": "ready"' in line:
            # Keep reading, or a full pipe would block the worker's logging mid-render.
            threading.Thread(target=worker.stderr.read, daemon=True).start()
            return
        if time.monotonic() > deadline:
            break
    raise RuntimeError("the worker never became ready")


def warm_worker_seconds(*, blend: Path, frames: int, chunk_size: int, scratch: Path) -> float:
    data = blend.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    auth = {"Authorization": f"Bearer {API_KEY}"}
    with (
        run_azurite(scratch / "azurite") as azurite,
        run_servicebus(scratch / "bus", Path(BUNDLED_CONFIG)) as bus,
    ):
        settings = Settings(
            storage_connection_string=azurite.connection_string,
            servicebus_connection_string=bus.connection_string,
            api_key_hashes=f"bench={hash_key(API_KEY)}",
            rate_limit_per_minute=1_000_000,  # the harness polls status ten times a second
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "containerapp_worker"],
            cwd=REPO,
            env=_worker_env(settings, scratch / "cache"),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        try:
            _wait_ready(worker)
            with TestClient(create_app(settings=settings)) as api:
                logging.getLogger("renderfarm").setLevel(logging.WARNING)  # one line per poll
                ticket = api.post(
                    "/api/scenes", json={"sha256": sha, "size": len(data)}, headers=auth
                )
                upload = ticket.json()
                httpx.put(
                    upload["upload_url"], content=data, headers=upload.get("upload_headers") or {}
                )
                started = time.perf_counter()
                job = api.post(
                    "/api/jobs",
                    headers=auth,
                    json={"scene_sha256": sha, "frames": f"1-{frames}", "chunk_size": chunk_size},
                ).json()["job_id"]
                # Poll the emulator's counts, not the API: status calls would take CPU from Blender.
                while bus.counts()["total_message_count"]:
                    if worker.poll() is not None:
                        raise RuntimeError(f"the worker exited with {worker.returncode}")
                    time.sleep(0.05)
                elapsed = time.perf_counter() - started
                status = api.get(f"/api/jobs/{job}", headers=auth).json()
                if status["state"] != "completed":
                    raise RuntimeError(f"the job did not complete: {status}")
                return elapsed
        finally:
            stop_process(worker)
