"""The whole farm on this machine: Azurite, the Service Bus emulator, the Key Vault emulator, the
API on 127.0.0.1:7071 and, per Blender pool, workers started by that pool's autoscaler. Start it,
use it, stop it (workers first)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from azure.core.exceptions import AzureError

from renderfarm.shared.blender_pools import pool_queues, queue_name
from renderfarm_azure.api_key_admin import ApiKeyAdmin, ApiKeyError
from renderfarm_local import services
from renderfarm_local.autoscaler import (
    Autoscaler,
    AutoscalerThread,
    ManagementQueueDepth,
    PoolQueueDepth,
    ScalePoll,
)
from renderfarm_local.farm_layout import (
    FarmEndpoints,
    FarmLayout,
    FarmPorts,
    LocalVault,
    local_api_key,
)
from renderfarm_local.farm_storage import START_TIMEOUT_S, start_blob_storage
from renderfarm_local.pools import DEFAULT_BLENDER, LocalPool, local_pools
from renderfarm_local.replicas_report import ReplicasReporter
from renderfarm_local.scaling_rule import ScaleRule, ScalingParameters
from renderfarm_local.supervisor import (
    ManagedProcess,
    ProcessFailed,
    ProcessSpec,
    ServiceHealth,
    Supervisor,
    port_open,
    wait_until_ready,
)
from renderfarm_local.worker_pool import WorkerPool

LOCAL_TENANT = "local"
#: The Functions that Service Bus triggers in Azure, run here as supervised processes.
QUEUE_CONSUMERS = (
    # chunks that died without a word (MaxDeliveryCount, TTL) fail, and may end their job
    ("dead-letters", "renderfarm_azure.dead_letters"),
    # job events: previews when a job completes, one webhook delivery per subscriber
    ("job-events", "functions.events"),
    # webhook deliveries: signed POSTs, retried through scheduled messages
    ("webhook-deliveries", "renderfarm_azure.webhooks"),
    # not a queue's: the timer Function that cancels scouted jobs whose quotes expired
    ("quote-expiry", "functions.quote_expiry_trigger"),
)


#: Seconds from the autoscaler's decision to a local worker waiting for its first message.
LOCAL_WORKER_START_S = 5.0


class LocalFarm:
    def __init__(  # noqa: PLR0913 - keyword-only: the farm's layout, ports and pools
        self,
        *,
        layout: FarmLayout,
        ports: FarmPorts,
        scaling: ScalingParameters,
        pools: Sequence[LocalPool] | None = None,
        worker_command: Sequence[str] | None = None,
        servicebus_config: Path = services.SERVICEBUS_CONFIG,
    ):
        self.layout = layout
        self.servicebus_config = servicebus_config  # its queues and their lock durations
        self.ports = ports
        self.scaling = scaling
        self.pools = tuple(pools) if pools is not None else local_pools(DEFAULT_BLENDER)
        # Tests swap Blender for a stand-in worker; every pool then runs it.
        self.worker_command = tuple(worker_command) if worker_command else None
        self._supervisor = Supervisor()
        self._autoscalers: dict[str, AutoscalerThread] = {}
        self._reporter: ReplicasReporter | None = None
        self.endpoints = FarmEndpoints(
            api_url=f"http://127.0.0.1:{ports.api}",
            api_key=local_api_key(layout),
            storage_connection_string=services.azurite_connection_string(ports.blob),
            servicebus_connection_string=services.servicebus_connection_string(ports.amqp),
            rate_limit_table_connection_string=services.azurite_table_connection_string(
                ports.table
            ),
            management_url=f"http://127.0.0.1:{ports.management}",
            vault=LocalVault(
                url=f"https://127.0.0.1:{ports.keyvault}", ca_bundle=layout.keyvault / "cert.pem"
            ),
        )

    @property
    def blender_versions(self) -> tuple[str, ...]:
        return tuple(str(pool.version) for pool in self.pools)

    def queue_of(self, pool: LocalPool) -> str:
        return queue_name(services.QUEUE_PREFIX, pool.version)

    def queues_of(self, pool: LocalPool) -> tuple[str, ...]:
        """The pool's queues, one per priority band, highest first (its workers' order)."""
        return pool_queues(services.QUEUE_PREFIX, pool.version)

    @property
    def render_threads(self) -> int:
        """Each worker's share of this machine's cores when every pool runs its most workers.

        Cycles on every core in each of two workers is slower than one worker alone (they fight
        over the cores and caches); RENDERFARM_RENDER_THREADS in our environment overrides it.
        """
        workers = self.scaling.max_replicas * len(self.pools)
        return max(1, (os.cpu_count() or 1) // max(1, workers))

    def settings_env(self) -> dict[str, str]:
        """The environment the API and the workers read their settings from: where this farm's
        parts are is the farm's to say; any other setting in our environment (a rate limit, a
        request size) overrides the default, as an app setting would in Azure."""
        return {
            # A local worker's start (process, `import bpy`, the autoscaler's next poll):
            # measured by bench/bench_farm.py; RENDERFARM_WORKER_START_SECONDS overrides it.
            "RENDERFARM_WORKER_START_SECONDS": str(LOCAL_WORKER_START_S),
            **tunable_settings(os.environ),
            **self.owned_settings(),
        }

    def owned_settings(self) -> dict[str, str]:
        return {
            "RENDERFARM_ENVIRONMENT": "development",
            "RENDERFARM_STORAGE_CONNECTION_STRING": self.endpoints.storage_connection_string,
            "RENDERFARM_SERVICEBUS_CONNECTION_STRING": self.endpoints.servicebus_connection_string,
            # One rate limit for the API, counted in Azurite's Table service as in Azure's; the
            # usage totals and budgets (renderfarm.billing) are in it too, for API and workers.
            "RENDERFARM_RATE_LIMIT_TABLE_CONNECTION_STRING": (
                self.endpoints.rate_limit_table_connection_string
            ),
            "RENDERFARM_QUEUE_PREFIX": services.QUEUE_PREFIX,
            "RENDERFARM_BLENDER_VERSIONS": ",".join(self.blender_versions),
            # API keys (and webhook secrets) in the local vault, read as in Azure.
            "RENDERFARM_KEYVAULT_URL": self.endpoints.vault.url,
            "RENDERFARM_KEYVAULT_CA_BUNDLE": str(self.endpoints.vault.ca_bundle),
            "RENDERFARM_BLEND_CACHE_DIR": str(self.layout.blend_cache),
            # The dashboard's Farm page: queue counts and the autoscalers' replicas.
            "RENDERFARM_SERVICEBUS_MANAGEMENT_URL": self.endpoints.management_url,
            "RENDERFARM_LOCAL_REPLICAS_FILE": str(self.layout.replicas_file),
            # The API plans chunk sizes for the workers this farm may run.
            "RENDERFARM_WORKER_MAX_REPLICAS": str(self.scaling.max_replicas),
        }

    def start(self) -> None:
        """Start every service, each once the one before answers; on failure stop what started."""
        busy = self.ports.busy()
        if busy:
            raise ProcessFailed(
                f"port(s) {', '.join(map(str, busy))} are in use: is a farm running already?"
            )
        if not services.AZURITE_BLOB.exists():
            raise ProcessFailed("Azurite is not installed: run `make deps` (npm ci)")
        try:
            self._start_services()
        except BaseException:
            self.stop()
            raise

    def _start_services(self) -> None:
        logs = self.layout.logs
        start_blob_storage(
            self._supervisor, location=self.layout.azurite, port=self.ports.blob, logs=logs
        )
        table = self._supervisor.start(
            services.azurite_table_spec(
                location=self.layout.azurite,
                port=self.ports.table,
                log_path=logs / "azurite-table.log",
            ),
            layer=0,
        )
        wait_until_ready(table, lambda: port_open(self.ports.table), timeout_s=START_TIMEOUT_S)
        bus = self._supervisor.start(
            services.servicebus_spec(
                port=self.ports.amqp,
                management_port=self.ports.management,
                data_dir=self.layout.servicebus,
                config=self.servicebus_config,
                log_path=logs / "servicebus.log",
            ),
            layer=0,
        )
        health = f"{self.endpoints.management_url}/health"
        wait_until_ready(
            bus,
            lambda: services.http_json(health) is not None and port_open(self.ports.amqp),
            timeout_s=START_TIMEOUT_S,
        )
        # One autoscaler per pool, each on its own queue, as KEDA scales each worker app. Workers
        # need only Blob and the queues: a warm one starts while the vault and the API do.
        for pool in self.pools:
            thread = AutoscalerThread(self._make_autoscaler(pool))
            self._autoscalers[str(pool.version)] = thread
            thread.start()
        vault = self._supervisor.start(
            services.keyvault_spec(
                port=self.ports.keyvault,
                data_dir=self.layout.keyvault,
                log_path=logs / "keyvault.log",
            )
        )
        wait_until_ready(vault, lambda: port_open(self.ports.keyvault), timeout_s=START_TIMEOUT_S)
        self._store_local_key()
        api = self._supervisor.start(
            services.api_spec(
                port=self.ports.api, env=self.settings_env(), log_path=logs / "api.log"
            )
        )
        api_health = f"{self.endpoints.api_url}/api/health"
        wait_until_ready(
            api, lambda: services.http_json(api_health) is not None, timeout_s=START_TIMEOUT_S
        )
        # The queue-triggered Functions' logic, each as a process.
        for name, module in QUEUE_CONSUMERS:
            self._supervisor.start(
                services.worker_spec(
                    name=name,
                    argv=[sys.executable, "-m", module],
                    env=self.settings_env(),
                    log_path=logs / f"{name}.log",
                    niceness=services.service_niceness(),
                )
            )
        self._reporter = ReplicasReporter(
            path=self.layout.replicas_file, polls=self.last_polls, params=self.scaling
        )
        self._reporter.start()
        self._supervisor.watch()  # every service answered once: from now on, restart the dead

    def _store_local_key(self) -> None:
        """The local key's hash in the vault, as infra/deploy.sh stores the first key in Azure
        (only if absent), and where the vault is for ``renderfarm keys``."""
        vault = self.endpoints.vault
        with vault.client() as client:
            try:
                ApiKeyAdmin(client).ensure(LOCAL_TENANT, self.endpoints.api_key)
            except ApiKeyError as error:
                raise ProcessFailed(
                    f"{error} (delete {self.layout.api_key_file} to make a new local key)"
                ) from error
            except AzureError as error:
                raise ProcessFailed(f"the local Key Vault did not answer: {error}") from error
        vault.write(self.layout.keyvault_file)

    def dashboard_banner(self) -> str:
        """Where the web dashboard is and how to sign in (a local key, on this machine only)."""
        return (
            f"dashboard: {self.endpoints.api_url}/  sign in with this farm's API key "
            f"{self.endpoints.api_key} (kept in {self.layout.api_key_file})"
        )

    def service_health(self) -> list[ServiceHealth]:
        """Azurite, the emulator, the API and the queue consumers: state and restart counts."""
        return self._supervisor.health()

    def service_process(self, name: str) -> ManagedProcess:
        """The running process of a service (``azurite``, ``servicebus``, ``api``, ...)."""
        return self._supervisor.process(name)

    def workers(self) -> dict[str, list[ManagedProcess]]:
        """Each pool's running workers, by Blender version."""
        return {
            version: thread.autoscaler.pool.running()
            for version, thread in self._autoscalers.items()
        }

    def _make_autoscaler(self, pool: LocalPool) -> Autoscaler:
        queues = self.queues_of(pool)
        env = {
            "RENDERFARM_RENDER_THREADS": str(self.render_threads),
            **self.settings_env(),
            "RENDERFARM_QUEUE_NAMES": ",".join(queues),
        }
        command = self.worker_command or pool.worker_command
        name = f"worker-{pool.version}" if len(self.pools) > 1 else "worker"

        def spec_for(number: int) -> ProcessSpec:
            return services.worker_spec(
                name=f"{name}-{number}",
                argv=command,
                env=env,
                log_path=self.layout.logs / f"{name}-{number}.log",
            )

        return Autoscaler(
            rule=ScaleRule(params=self.scaling),
            # One KEDA rule per band's queue, as in Azure.
            queue_depth=PoolQueueDepth(
                [
                    ManagementQueueDepth(
                        management_url=self.endpoints.management_url, queue_name=queue
                    )
                    for queue in queues
                ],
                names=queues,
            ),
            pool=WorkerPool(spec_for),
        )

    def last_polls(self) -> dict[str, ScalePoll | None]:
        """Each pool's (by Blender version) last autoscaler decision."""
        return {
            str(pool.version): (
                thread.autoscaler.last_poll
                if (thread := self._autoscalers.get(str(pool.version)))
                else None
            )
            for pool in self.pools
        }

    def stop(self) -> None:
        """Workers first (each abandons its message while the queue still answers), then the
        API, the emulator and Azurite, each with SIGTERM so that no write is lost."""
        if self._reporter is not None:
            self._reporter.stop()
            self._reporter = None
        for thread in self._autoscalers.values():
            thread.stop()
        self._autoscalers.clear()
        self._supervisor.stop_all()


#: Settings that say where a farm's parts are or who may call it: a shell set up for a farm in
#: Azure must not point the local farm's processes there.
_PLACES = (
    "_CONNECTION_STRING",
    "_URL",
    "_NAMESPACE",
    "_API_KEY",
    "_KEY_HASHES",
    "_CA_BUNDLE",
    "_QUEUE_NAME",
    "_CLIENT_ID",
)


def tunable_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The RENDERFARM_* settings in ``environ`` that tune the farm rather than locate it."""
    return {
        key: value
        for key, value in environ.items()
        if key.startswith("RENDERFARM_") and not key.endswith(_PLACES)
    }


def with_warm_workers(params: ScalingParameters) -> ScalingParameters:
    """Every worker from the start (`local run`: a job is on its way). Their starts overlap the
    farm's and the upload, and each worker's fixed share of the cores (``render_threads``) is
    never left idle while a second one is still starting (bench/bench_farm.py: two workers
    scaled from zero were 1.10x one; started with the farm, 1.00x). Azure scales from zero."""
    return replace(params, min_replicas=params.max_replicas)


def with_max_replicas(params: ScalingParameters, max_replicas: int | None) -> ScalingParameters:
    """The Bicep's parameters, with a smaller ceiling for a small machine if asked."""
    if max_replicas is None:
        return params
    return replace(
        params,
        max_replicas=max_replicas,
        min_replicas=min(params.min_replicas, max_replicas),
    )
