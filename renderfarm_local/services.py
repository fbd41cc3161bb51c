"""The local farm's processes: how to start Azurite, the Service Bus emulator, the API and a
worker, and how to tell that each is ready. Shared by the local farm and the tests."""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from renderfarm_local.supervisor import ProcessSpec

REPO = Path(__file__).resolve().parent.parent
AZURITE_BLOB = REPO / "node_modules" / ".bin" / "azurite-blob"
#: Makes Azurite answer a write once it is on disk (it saves every 5 s otherwise): see the file.
AZURITE_DURABLE_WRITES = REPO / "emulators" / "azurite" / "durable_writes.js"
#: Azurite's Table service (the shared rate-limit counters), a process of its own.
AZURITE_TABLE = REPO / "node_modules" / "azurite" / "dist" / "src" / "table" / "main.js"
#: Makes the Table service save its data on SIGTERM, as it does on SIGINT: see the file.
AZURITE_TABLE_SIGTERM = REPO / "emulators" / "azurite" / "table_sigterm.js"
SERVICEBUS_CONFIG = REPO / "emulators" / "servicebus" / "config.json"
SCALING_CONFIG = REPO / "infra" / "scaling.json"
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key: published by Microsoft for the emulator, not a secret.
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
SERVICEBUS_KEY_VALUE = "SAS_KEY_VALUE"  # Microsoft's emulator accepts any key; this is its sample
QUEUE_PREFIX = "render-chunks"  # one queue per Blender pool: render-chunks-5.3


#: The farm's own services run this much nicer than the workers: on one machine they would
#: otherwise take CPU from Cycles while it renders (bench/bench_farm.py: per-frame time).
SERVICE_NICENESS = 5
#: Overrides it. The tests set 0: their farms run side by side (pytest-xdist), and one farm's
#: services must not starve behind another farm's workers.
SERVICE_NICENESS_ENV = "RENDERFARM_LOCAL_SERVICE_NICENESS"


def service_niceness() -> int:
    """How much nicer than the workers the farm's own services run."""
    text = os.environ.get(SERVICE_NICENESS_ENV, "")
    return int(text) if text.strip().isdigit() else SERVICE_NICENESS


def azurite_blob_endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"


def azurite_connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={azurite_blob_endpoint(port)};"
    )


def azurite_table_connection_string(port: int) -> str:
    """Azurite's Table service alone: what RENDERFARM_RATE_LIMIT_TABLE_CONNECTION_STRING takes."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};TableEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


def servicebus_connection_string(port: int) -> str:
    return (
        f"Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={SERVICEBUS_KEY_VALUE};UseDevelopmentEmulator=true;"
    )


def azurite_spec(*, location: Path, port: int, log_path: Path | None = None) -> ProcessSpec:
    # --disableTelemetry: without it Azurite tries to reach a telemetry host.
    argv = [
        shutil.which("node") or "node",
        "--require",
        str(AZURITE_DURABLE_WRITES),
        str(AZURITE_BLOB.resolve()),
        "--silent",
        "--location",
        str(location),
        "--loose",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
    ]
    return ProcessSpec(name="azurite", argv=argv, log_path=log_path, niceness=service_niceness())


def azurite_table_spec(*, location: Path, port: int, log_path: Path | None = None) -> ProcessSpec:
    argv = [
        shutil.which("node") or "node",
        "--require",
        str(AZURITE_TABLE_SIGTERM),
        str(AZURITE_TABLE),
        "--silent",
        "--location",
        str(location),
        "--loose",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--tableHost",
        "127.0.0.1",
        "--tablePort",
        str(port),
    ]
    return ProcessSpec(
        name="azurite-table", argv=argv, log_path=log_path, niceness=service_niceness()
    )


def servicebus_spec(  # noqa: PLR0913 - keyword-only: the emulator's command-line options
    *,
    port: int,
    management_port: int,
    data_dir: Path,
    config: Path = SERVICEBUS_CONFIG,
    log_path: Path | None = None,
    log_level: str = "WARNING",
) -> ProcessSpec:
    argv = [
        sys.executable,
        "-m",
        "emulators.servicebus",
        "--port",
        str(port),
        "--management-port",
        str(management_port),
        "--data-dir",
        str(data_dir),
        "--config",
        str(config),
        "--log-level",
        log_level,
    ]
    return ProcessSpec(
        name="servicebus",
        argv=argv,
        cwd=REPO,
        env=python_env({}),
        log_path=log_path,
        niceness=service_niceness(),
    )


def keyvault_spec(*, port: int, data_dir: Path, log_path: Path | None = None) -> ProcessSpec:
    """The Key Vault emulator: HTTPS on 127.0.0.1, its certificate at ``data_dir/cert.pem``."""
    argv = [
        sys.executable,
        "-m",
        "emulators.keyvault",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "WARNING",
    ]
    return ProcessSpec(
        name="keyvault",
        argv=argv,
        cwd=REPO,
        env=python_env({}),
        log_path=log_path,
        niceness=service_niceness(),
    )


def api_spec(*, port: int, env: Mapping[str, str], log_path: Path | None = None) -> ProcessSpec:
    """The API under uvicorn on the port and prefix ``func start`` would use."""
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "webapp.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    return ProcessSpec(
        name="api",
        argv=argv,
        cwd=REPO,
        env=python_env(env),
        log_path=log_path,
        niceness=service_niceness(),
    )


def worker_spec(
    *,
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    log_path: Path | None = None,
    niceness: int = 0,
) -> ProcessSpec:
    # A worker abandons its message on SIGTERM; give a Blender frame in flight time to stop.
    return ProcessSpec(
        name=name,
        argv=argv,
        cwd=REPO,
        env=python_env(env),
        log_path=log_path,
        stop_timeout_s=30.0,
        niceness=niceness,
    )


def python_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment without the caller's farm settings, plus ``extra``: a local child must
    not pick up RENDERFARM_* or telemetry variables that point at a farm in Azure."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RENDERFARM_")
        and key not in {"APPLICATIONINSIGHTS_CONNECTION_STRING", "AZURE_CLIENT_ID"}
    }
    return {**inherited, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **extra}


def http_json(url: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """The JSON at ``url``, or None when nothing answers there with a 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (loopback)
            return dict(json.load(response))
    except (urllib.error.URLError, OSError, ValueError):
        return None
