"""The local farm's Blob Storage (Azurite): started with the farm, or alone for a command that
needs only the farm's stored data (``renderfarm local gc``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from renderfarm_local import services
from renderfarm_local.supervisor import ProcessFailed, Supervisor, port_open, wait_until_ready

#: How long a service may take to answer once started.
START_TIMEOUT_S = 60.0


def start_blob_storage(supervisor: Supervisor, *, location: Path, port: int, logs: Path) -> None:
    """Azurite's Blob service on the farm's data, once it answers. Layer 0: the others write to
    it, so it stops last."""
    azurite = supervisor.start(
        services.azurite_spec(location=location, port=port, log_path=logs / "azurite.log"),
        layer=0,
    )
    wait_until_ready(azurite, lambda: port_open(port), timeout_s=START_TIMEOUT_S)


@contextlib.contextmanager
def farm_storage(*, location: Path, port: int, logs: Path) -> Iterator[str]:
    """A connection string to the local farm's Blob Storage: the running farm's Azurite when one
    answers on ``port``, else Azurite alone on the farm's data, stopped (SIGTERM) after."""
    if port_open(port):
        yield services.azurite_connection_string(port)
        return
    if not services.AZURITE_BLOB.exists():
        raise ProcessFailed("Azurite is not installed: run `make deps` (npm ci)")
    supervisor = Supervisor()
    try:
        start_blob_storage(supervisor, location=location, port=port, logs=logs)
        yield services.azurite_connection_string(port)
    finally:
        supervisor.stop_all()
