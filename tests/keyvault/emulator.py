"""Start the Key Vault emulator as a child process on a free loopback port, as testbed/emulators.py
starts the Service Bus emulator, and make SDK clients that trust it."""

from __future__ import annotations

import contextlib
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.pipeline.transport import AsyncioRequestsTransport
from azure.keyvault.secrets import SecretClient
from azure.keyvault.secrets.aio import SecretClient as AsyncSecretClient

from renderfarm_local.supervisor import free_port, port_open
from testbed.emulators import REPO, stop_process
from tests.keyvault.credentials import AsyncFixedCredential, FixedCredential

START_TIMEOUT_S = 30.0


@dataclass(kw_only=True)
class KeyVaultEmulator:
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def vault_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def certificate(self) -> Path:
        return self.data_dir / "cert.pem"

    def ssl_context(self) -> ssl.SSLContext:
        """Trust the emulator's certificate and nothing else (for raw HTTP clients)."""
        return ssl.create_default_context(cafile=self.certificate)

    def client(self, **kwargs: Any) -> SecretClient:
        """An SDK client as the farm makes one: the emulator's certificate trusted, and the
        challenge's resource (vault.azure.net) not required to match 127.0.0.1."""
        options: dict[str, Any] = {
            "verify_challenge_resource": False,
            "connection_verify": str(self.certificate),
            **kwargs,
        }
        credential = options.pop("credential", None) or FixedCredential()
        return SecretClient(self.vault_url, credential, **options)

    def async_client(self, **kwargs: Any) -> AsyncSecretClient:
        """The asyncio client over azure-core's requests-based async transport: aiohttp, the
        default one, is not among the project's dependencies."""
        options: dict[str, Any] = {
            "verify_challenge_resource": False,
            "transport": AsyncioRequestsTransport(connection_verify=str(self.certificate)),
            **kwargs,
        }
        credential = options.pop("credential", None) or AsyncFixedCredential()
        return AsyncSecretClient(self.vault_url, credential, **options)

    def start(self) -> None:
        """(Re)start the process on the same port and data folder."""
        argv = [
            sys.executable,
            "-m",
            "emulators.keyvault",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        self.process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL)
        _wait_until_listening(self.process, self.port)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        return stop_process(self.process, sig)


def _wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Key Vault emulator exited with {process.returncode}")
        if port_open(port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"the Key Vault emulator did not answer within {START_TIMEOUT_S} s")


@contextlib.contextmanager
def run_keyvault(data_dir: Path) -> Iterator[KeyVaultEmulator]:
    emulator = KeyVaultEmulator(port=free_port(), data_dir=data_dir)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
