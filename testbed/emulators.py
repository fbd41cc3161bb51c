"""Start the farm's real dependencies as child processes on free loopback ports, for tests and
benchmarks.

Each service gets a temporary data folder, is waited on until it answers, and is stopped with
SIGTERM (Azurite can lose a write acknowledged just before a SIGKILL).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from renderfarm_local import services as local_services
from renderfarm_local.services import AZURITE_BLOB, REPO, servicebus_connection_string
from renderfarm_local.supervisor import free_port, port_open

__all__ = [
    "REPO",
    "Azurite",
    "AzuriteTable",
    "ServiceBusEmulator",
    "free_port",
    "run_azurite",
    "run_azurite_table",
    "run_servicebus",
    "servicebus_connection_string",
    "stop_process",
    "write_config",
]

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it answered")
        if ready():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not answer within {START_TIMEOUT_S} s")


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Signal a child and wait for it; kill it only if it ignores the signal."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


@dataclass(frozen=True, kw_only=True)
class Azurite:
    blob_port: int
    location: Path
    table_port: int

    @property
    def table_connection_string(self) -> str:
        """Azurite's Table service (the shared rate-limit counters)."""
        return local_services.azurite_table_connection_string(self.table_port)

    @property
    def blob_endpoint(self) -> str:
        return local_services.azurite_blob_endpoint(self.blob_port)

    @property
    def connection_string(self) -> str:
        return local_services.azurite_connection_string(self.blob_port)


@contextlib.contextmanager
def run_azurite(location: Path) -> Iterator[Azurite]:
    if not AZURITE_BLOB.exists():
        raise RuntimeError("Azurite is not installed: run `make deps` (npm ci)")
    port = free_port()
    location.mkdir(parents=True, exist_ok=True)
    argv = list(local_services.azurite_spec(location=location, port=port).argv)
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until(lambda: port_open(port), process, "Azurite")
        with run_azurite_table(location) as table:
            yield Azurite(blob_port=port, location=location, table_port=table.port)
    finally:
        stop_process(process)


@dataclass(kw_only=True)
class AzuriteTable:
    """Azurite's Table service, a process of its own that a test may stop and start again."""

    port: int
    location: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return local_services.azurite_table_connection_string(self.port)

    def start(self) -> None:
        """(Re)start the process on the same port and data folder."""
        spec = local_services.azurite_table_spec(location=self.location, port=self.port)
        process = subprocess.Popen(spec.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.process = process
        _wait_until(lambda: port_open(self.port), process, "Azurite's Table service")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        return stop_process(self.process, sig) if self.process is not None else 0


@contextlib.contextmanager
def run_azurite_table(location: Path) -> Iterator[AzuriteTable]:
    location.mkdir(parents=True, exist_ok=True)
    table = AzuriteTable(port=free_port(), location=location)
    table.start()
    try:
        yield table
    finally:
        table.stop()


@dataclass(kw_only=True)
class ServiceBusEmulator:
    port: int
    management_port: int
    data_dir: Path
    config: Path
    process: subprocess.Popen[bytes]
    queue_name: str = "render-chunks-5.3"  # the default Blender pool's queue

    @property
    def connection_string(self) -> str:
        return servicebus_connection_string(self.port)

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    def counts(self, queue: str | None = None) -> dict[str, Any]:
        url = f"{self.management_url}/queues/{queue or self.queue_name}"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return dict(json.load(response))

    def start(self) -> None:
        """(Re)start the process on the same ports and data folder."""
        self.process = _spawn_emulator(self.port, self.management_port, self.data_dir, self.config)
        _wait_for_health(self)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        return stop_process(self.process, sig)


def _spawn_emulator(
    port: int, management_port: int, data_dir: Path, config: Path
) -> subprocess.Popen[bytes]:
    spec = local_services.servicebus_spec(
        port=port, management_port=management_port, data_dir=data_dir, config=config
    )
    return subprocess.Popen(spec.argv, cwd=spec.cwd, env=dict(spec.env), stdout=subprocess.DEVNULL)


def _wait_for_health(emulator: ServiceBusEmulator) -> None:
    health = f"{emulator.management_url}/health"
    _wait_until(
        lambda: local_services.http_json(health) is not None and port_open(emulator.port),
        emulator.process,
        "the Service Bus emulator",
    )


@contextlib.contextmanager
def run_servicebus(data_dir: Path, config: Path) -> Iterator[ServiceBusEmulator]:
    emulator = ServiceBusEmulator(
        port=free_port(),
        management_port=free_port(),
        data_dir=data_dir,
        config=config,
        process=None,  # type: ignore[arg-type]  # set by start()
    )
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def write_config(path: Path, queues: dict[str, dict[str, Any]]) -> Path:
    """Write a config in Microsoft's emulator schema with the given queues and properties."""
    document = {
        "UserConfig": {
            "Namespaces": [
                {
                    "Name": "sbemulatorns",
                    "Queues": [
                        {"Name": name, "Properties": properties}
                        for name, properties in queues.items()
                    ],
                    "Topics": [],
                }
            ],
            "Logging": {"Type": "File"},
        }
    }
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path
