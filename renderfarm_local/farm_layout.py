"""Where the local farm's parts are: the ports its services listen on, the folders it keeps its
data and logs in, its vault, its API key, and the endpoints its processes are given."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from azure.keyvault.secrets import SecretClient

from renderfarm.keys.api_keys import new_key
from renderfarm_azure.keyvault import secret_client
from renderfarm_local import services
from renderfarm_local.supervisor import free_port, port_open

DEFAULT_DATA_DIR = services.REPO / ".emulator-data" / "local-farm"
DEFAULT_API_PORT = 7071  # what `func start` uses
KEYVAULT_PORT = 8443  # the Key Vault emulator's usual HTTPS port


@dataclass(frozen=True, kw_only=True)
class FarmPorts:
    blob: int
    amqp: int
    management: int
    api: int
    keyvault: int
    table: int = 10002  # Azurite's Table service: the API's shared rate-limit counters

    @classmethod
    def standard(cls) -> FarmPorts:
        """The emulators' usual ports, so other tools find them where they expect."""
        return cls(
            blob=10000,
            amqp=5672,
            management=5300,
            api=DEFAULT_API_PORT,
            keyvault=KEYVAULT_PORT,
            table=10002,
        )

    @classmethod
    def free(cls) -> FarmPorts:
        return cls(
            blob=free_port(),
            amqp=free_port(),
            management=free_port(),
            api=free_port(),
            keyvault=free_port(),
            table=free_port(),
        )

    def busy(self) -> list[int]:
        ports = (self.blob, self.amqp, self.management, self.api, self.keyvault, self.table)
        return [port for port in ports if port_open(port)]


@dataclass(frozen=True, kw_only=True)
class FarmLayout:
    """Where the farm keeps its data and logs; data survives restarts."""

    root: Path

    @property
    def azurite(self) -> Path:
        return self.root / "azurite"

    @property
    def servicebus(self) -> Path:
        return self.root / "servicebus"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def blend_cache(self) -> Path:
        return self.root / "blend-cache"

    @property
    def keyvault(self) -> Path:
        """The Key Vault emulator's secrets and its certificate (cert.pem)."""
        return self.root / "keyvault"

    @property
    def keyvault_file(self) -> Path:
        """Where the farm says which vault it runs, for ``renderfarm keys`` (LocalVault)."""
        return self.root / "keyvault.json"

    @property
    def replicas_file(self) -> Path:
        """The replicas the autoscalers see, for the dashboard's Farm page."""
        return self.root / "replicas.json"

    @property
    def api_key_file(self) -> Path:
        """The local key, for the CLI to read; the API reads its hash from the vault."""
        return self.root / "api-key"


@dataclass(frozen=True, kw_only=True)
class LocalVault:
    """The local farm's vault: its URL and the certificate that trusts it."""

    url: str
    ca_bundle: Path

    def client(self) -> SecretClient:
        return secret_client(self.url, ca_bundle=str(self.ca_bundle))

    def write(self, path: Path) -> None:
        data = {"vault_url": self.url, "ca_bundle": str(self.ca_bundle)}
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> LocalVault | None:
        """The vault a farm wrote at ``path``; None when no farm has run there."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(url=str(data["vault_url"]), ca_bundle=Path(data["ca_bundle"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def local_api_key(layout: FarmLayout) -> str:
    """This farm's API key, made on first start and readable only by its owner."""
    if layout.api_key_file.exists():
        return layout.api_key_file.read_text(encoding="utf-8").strip()
    layout.root.mkdir(parents=True, exist_ok=True)
    key = new_key()
    descriptor = os.open(layout.api_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(key + "\n")
    return key


@dataclass(frozen=True, kw_only=True)
class FarmEndpoints:
    api_url: str
    api_key: str
    storage_connection_string: str
    servicebus_connection_string: str
    rate_limit_table_connection_string: str
    management_url: str
    vault: LocalVault
