"""One settings object for the API and the worker, read from the environment.

Every service is reached one of two ways: a connection string (emulators, development) or an
endpoint plus ``DefaultAzureCredential`` (Azure, managed identity, no secret in config).
The environment variable of each field is its name upper-cased with the ``RENDERFARM_`` prefix,
except where an alias names the variable Azure itself defines.
"""

from __future__ import annotations

import ipaddress
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from renderfarm.shared.blend_header import BlenderVersion
from renderfarm.shared.blender_pools import parse_supported

ENV_PREFIX = "RENDERFARM_"

#: Microsoft's Service Bus emulator connection string; ours answers it unchanged.
EMULATOR_SERVICEBUS_CONNECTION_STRING = (
    "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=RootManageSharedAccessKey;"
    "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
)


class Settings(BaseSettings):
    """Everything the farm's processes read from their environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    environment: str = "development"

    # Blob Storage: a connection string locally, an account URL with managed identity in Azure.
    storage_connection_string: str | None = None
    storage_account_url: str | None = None
    scenes_container: str = "scenes"
    jobs_container: str = "jobs"

    # Service Bus: a connection string locally, a fully qualified namespace in Azure.
    servicebus_connection_string: str | None = None
    servicebus_namespace: str | None = None
    # One queue per Blender pool: "<queue_prefix>-<major.minor>" (render-chunks-5.3).
    queue_prefix: str = "render-chunks"
    # The Blender versions (major.minor) the farm has pools for, comma-separated: the API routes
    # jobs among them and the dead-letter handler watches each pool's queue.
    blender_versions: str = "5.3"
    # A worker's own queue; unset, it is the queue of the pool of the Blender it runs.
    queue_name: str | None = None
    # A worker's queues, highest priority first, comma-separated; it takes from the first that
    # has a message. Unset: queue_name alone if set, else its pool's three priority bands' queues
    # (render-chunks-5.3-high, render-chunks-5.3, render-chunks-5.3-low; -gpu- ones on a GPU
    # worker).
    queue_names: str | None = None
    # What a worker renders on: CPU, or GPU (it then serves its pool's GPU queues).
    worker_device: Literal["CPU", "GPU"] = "CPU"
    # The farm has GPU workers (infra's deployGpuWorkers): the API accepts render.device GPU and
    # the dead-letter handler watches the GPU queues too.
    gpu_workers: bool = False
    # What the farm says happened to jobs, and the signed webhook POSTs those events become.
    events_queue: str = "job-events"
    webhook_deliveries_queue: str = "webhook-deliveries"
    # Webhook records (and, without a Key Vault, their secrets), apart from the workers' jobs.
    webhooks_container: str = "webhooks"
    # The first retry's delay; later ones are 5x, 24x, 120x, 720x it (5 s base: up to 1 h).
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0)

    # API keys: "tenant=sha256hex,..." locally, or a Key Vault whose secrets hold them.
    api_key_hashes: str | None = None
    keyvault_url: str | None = None
    # A local vault only (the Key Vault emulator on a loopback address): the CA bundle that
    # trusts its certificate. With it the farm uses a local token instead of an Azure identity.
    keyvault_ca_bundle: str | None = None
    # How long the API reuses the vault's keys: a revoked or expired key is refused within this.
    keyvault_cache_seconds: float = Field(default=60.0, gt=0)

    # Limits.
    rate_limit_per_minute: int = Field(default=120, ge=1)
    # One rate limit for every API instance: the counters in a table (renderfarm.keys.rate_limit),
    # reached by a connection string (Azurite's TableEndpoint=..., locally) or the storage
    # account's table endpoint with managed identity (Azure). Neither: each process counts alone.
    rate_limit_table_connection_string: str | None = None
    rate_limit_table_endpoint: str | None = None
    rate_limit_table: str = "ratelimits"
    # Usage totals and budgets (renderfarm.billing), in the same table account.
    usage_table: str = "usage"
    budgets_table: str = "budgets"
    # How long a process reuses what it read of budgets and spending (renderfarm.billing.guard):
    # a raised budget releases held chunks within this, and spending can pass a budget by what
    # starts meanwhile. A held chunk's message comes back this many seconds later to look again.
    budget_cache_seconds: float = Field(default=15.0, gt=0, le=3600)
    budget_hold_recheck_seconds: float = Field(default=45.0, gt=0, le=3600)
    # While the table is unreachable each process limits on its own and asks it again this often.
    rate_limit_store_retry_seconds: float = Field(default=5.0, gt=0)
    max_queued_frames_per_tenant: int = Field(default=100_000, ge=1)
    # 8 MiB: a job naming a project of 20,000 files is about 3 MiB of JSON.
    max_request_bytes: int = Field(default=8 * 1024**2, ge=1024)
    # A project's files (renderfarm.projects.file_set): how many, and how many bytes, one job may
    # name.
    max_project_files: int = Field(default=20_000, ge=1)
    max_project_bytes: int = Field(default=50 * 1024**3, ge=1)
    # Project files no job has named for this many days are deleted (renderfarm.projects.gc).
    project_files_keep_days: int = Field(default=30, ge=1)

    # Worker.
    blend_cache_dir: str = Field(
        default_factory=lambda: str(Path(tempfile.gettempdir()) / "renderfarm-blend-cache")
    )
    blend_cache_max_bytes: int = Field(default=5 * 1024**3, ge=0)
    # Messages a worker process handles before it exits; 0 = until stopped. A Container Apps
    # Job execution (infra's job mode) sets 1: one message per execution.
    worker_max_messages: int = Field(default=0, ge=0)
    # Cycles threads per worker; 0 = every core (a replica in Azure has its vCPUs to itself).
    # The local farm sets its share of the cores when several workers share one machine.
    render_threads: int = Field(default=0, ge=0, le=1024)

    # Chunk planning (renderfarm.chunks.plan): the most replicas a pool scales to (KEDA's
    # maxReplicas) and a replica's cold start, from a scale-out decision to its first message.
    worker_max_replicas: int = Field(default=10, ge=1)
    worker_start_seconds: float = Field(default=20.0, ge=0)
    # A scouted job's quote that no one approves within this many hours is cancelled
    # (renderfarm.jobs.quote_expiry).
    quote_expiry_hours: float = Field(default=24.0, gt=0, le=24 * 30)

    # The web dashboard: sessions are signed with this secret (a Key Vault reference in Azure;
    # in development, unset, a random one per process). Sessions last this many minutes.
    dashboard_session_secret: str | None = Field(default=None, min_length=32)
    dashboard_session_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # The Service Bus emulator's HTTP management endpoint (queue counts); unset in Azure, where
    # the dashboard reads them through the administration API.
    servicebus_management_url: str | None = None
    # The local farm only: the JSON file where its autoscalers write the replicas they see.
    local_replicas_file: str | None = None

    # Identity and telemetry: names Azure defines, so no prefix.
    azure_client_id: str | None = Field(
        default=None, validation_alias=AliasChoices("AZURE_CLIENT_ID")
    )
    applicationinsights_connection_string: str | None = Field(
        default=None, validation_alias=AliasChoices("APPLICATIONINSIGHTS_CONNECTION_STRING")
    )

    def blender_pools(self) -> tuple[BlenderVersion, ...]:
        """The Blender versions the farm runs, oldest first."""
        return parse_supported(self.blender_versions)

    @field_validator("blender_versions")
    @classmethod
    def _versions_parse(cls, value: str) -> str:
        parse_supported(value)  # a ValueError names what is wrong
        return value

    @model_validator(mode="after")
    def _one_way_to_each_service(self) -> Settings:
        if not (self.storage_connection_string or self.storage_account_url):
            raise ValueError(
                "set RENDERFARM_STORAGE_CONNECTION_STRING or RENDERFARM_STORAGE_ACCOUNT_URL"
            )
        if not (self.servicebus_connection_string or self.servicebus_namespace):
            raise ValueError(
                "set RENDERFARM_SERVICEBUS_CONNECTION_STRING or RENDERFARM_SERVICEBUS_NAMESPACE"
            )
        if self.keyvault_ca_bundle and not (
            self.keyvault_url and is_loopback_url(self.keyvault_url)
        ):
            raise ValueError(
                "RENDERFARM_KEYVAULT_CA_BUNDLE is for a local vault: it needs a loopback "
                "RENDERFARM_KEYVAULT_URL (https://127.0.0.1:PORT)"
            )
        return self


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` names this machine (localhost or a loopback address)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def env_names() -> set[str]:
    """The environment variable names that Settings reads (the infra tests compare Bicep to it)."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        else:
            names.add(ENV_PREFIX + name.upper())
    return names


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once (not at import: an import-time error in a Functions app
    unregisters every function)."""
    return Settings()
