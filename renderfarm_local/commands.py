"""The local farm's commands, registered in ``renderfarm`` by ``renderfarm_cli``:
``renderfarm local up|run|gc`` and ``renderfarm keys`` (which manage this machine's farm and vault,
not a farm over HTTP), the local farm's key for a farm on this machine, and the errors these
commands end with."""

from __future__ import annotations

import contextlib
import ipaddress
import shlex
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from azure.storage.blob import BlobServiceClient
from rich.live import Live

from renderfarm.projects.gc import KEEP_DAYS
from renderfarm.shared.blob_layout import SCENES_CONTAINER
from renderfarm_azure.api_key_admin import ApiKeyError
from renderfarm_azure.project_gc import collect
from renderfarm_client.cli.options import options_from, render_options, stderr, stdout
from renderfarm_client.cli.rendering import report, submit_scene, watch_and_download
from renderfarm_client.farm_api import FarmClient, FarmError
from renderfarm_local import services
from renderfarm_local.farm_layout import DEFAULT_API_PORT, DEFAULT_DATA_DIR, FarmLayout, FarmPorts
from renderfarm_local.farm_storage import farm_storage
from renderfarm_local.keys_command import keys
from renderfarm_local.live_view import farm_view, latest_jobs
from renderfarm_local.local_farm import LocalFarm, with_max_replicas, with_warm_workers
from renderfarm_local.pools import DEFAULT_BLENDER, PoolUnavailable, local_pools
from renderfarm_local.scaling_rule import ScalingConfigError, ScalingParameters
from renderfarm_local.supervisor import ProcessFailed

__all__ = ["LOCAL_ERRORS", "keys", "local", "resolve_key"]

LIVE_REFRESH_S = 1.0
#: Failures of these commands that end as one line and exit 1, like a FarmError.
LOCAL_ERRORS: tuple[type[Exception], ...] = (
    ProcessFailed,
    ScalingConfigError,
    PoolUnavailable,
    ApiKeyError,
)


def _is_loopback(api_url: str) -> bool:
    host = urlsplit(api_url).hostname or ""
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


def resolve_key(api_url: str, api_key: str | None) -> str | None:
    """The key given, or for a farm on this machine the one `renderfarm local up` made."""
    if api_key or not _is_loopback(api_url):
        return api_key
    key_file = FarmLayout(root=DEFAULT_DATA_DIR).api_key_file
    return key_file.read_text(encoding="utf-8").strip() if key_file.exists() else None


@click.group()
def local() -> None:
    """The whole farm on this machine: Azurite, the Service Bus emulator, the API, workers."""


def _local_farm(  # noqa: PLR0913 - keyword-only: the farm command's options
    *,
    data_dir: Path,
    max_replicas: int | None,
    worker_command: str | None,
    api_port: int,
    free_ports: bool,
    blender: str,
    warm: bool = False,
) -> LocalFarm:
    scaling = with_max_replicas(ScalingParameters.load(services.SCALING_CONFIG), max_replicas)
    if warm:
        scaling = with_warm_workers(scaling)
    ports = FarmPorts.free() if free_ports else FarmPorts.standard()
    return LocalFarm(
        layout=FarmLayout(root=data_dir),
        ports=replace(ports, api=api_port),
        scaling=scaling,
        pools=local_pools(blender),
        worker_command=shlex.split(worker_command) if worker_command else None,
    )


def farm_options(function: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=DEFAULT_DATA_DIR,
            show_default=True,
        ),
        click.option(
            "--max-replicas",
            type=click.IntRange(1),
            default=None,
            help="fewer workers than infra/scaling.json allows, for a small machine",
        ),
        click.option(
            "--api-port", type=click.IntRange(1, 65535), default=DEFAULT_API_PORT, show_default=True
        ),
        click.option(
            "--free-ports",
            is_flag=True,
            help="run Azurite and the emulator on any free ports, beside another farm",
        ),
        click.option(
            "--blender",
            default=DEFAULT_BLENDER,
            show_default=True,
            metavar="VERSIONS",
            help="the Blender pools to run, e.g. 5.3,4.5 (one autoscaler and queue each; "
            f"pools other than {DEFAULT_BLENDER} need `make blender-<version>` once)",
        ),
        click.option(
            "--worker-command", default=None, hidden=True, help="run this instead of the worker"
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@contextlib.contextmanager
def running(farm: LocalFarm) -> Iterator[LocalFarm]:
    """The farm, started; stopped on the way out whatever happens. SIGTERM to us counts as a
    Ctrl-C, and a second Ctrl-C cannot cut the shutdown short."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    stderr.print("starting Azurite, the Service Bus and Key Vault emulators and the API ...")
    try:
        farm.start()
        stderr.print(farm.dashboard_banner(), soft_wrap=True)
        yield farm
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stderr.print("stopping the farm (workers first) ...")
        farm.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, previous)


@local.command()
@farm_options
def up(**farm_args: Any) -> None:
    """Start the local farm in the foreground with a live view; Ctrl-C stops it."""
    farm = _local_farm(**farm_args)
    with (
        contextlib.suppress(KeyboardInterrupt),
        running(farm),
        # No retries: the view says at once that the API is down, and when it is back.
        FarmClient(
            api_url=farm.endpoints.api_url, api_key=farm.endpoints.api_key, retry_for_s=0
        ) as client,
        Live(console=stdout, auto_refresh=False) as live,
    ):
        while True:
            live.update(farm_view(farm, farm.last_polls(), latest_jobs(client)), refresh=True)
            time.sleep(LIVE_REFRESH_S)
    stderr.print("stopped")


@local.command("run")
@render_options
@farm_options
def local_run(scene: Path, out: Path | None, **kwargs: Any) -> None:
    """Start the local farm, render SCENE through it, write frames and previews, stop it."""
    if not scene.is_file():
        raise FarmError(f"no scene at {scene}")
    farm_keys = ("data_dir", "max_replicas", "worker_command", "api_port", "free_ports", "blender")
    # A job is coming: its workers start with the farm instead of after the job is queued.
    farm = _local_farm(**{key: kwargs.pop(key) for key in farm_keys}, warm=True)
    options = options_from(**kwargs)
    with running(farm):
        started = time.monotonic()
        with FarmClient(api_url=farm.endpoints.api_url, api_key=farm.endpoints.api_key) as client:
            job = submit_scene(client, scene, options, stderr)
            outcome = watch_and_download(
                client, job, out or Path("out") / job.job_id, stderr, started
            )
    report(outcome, stdout)


@local.command("gc")
@click.option(
    "--keep-days",
    type=click.IntRange(0),
    default=KEEP_DAYS,
    show_default=True,
    help="keep project files a job has named within this many days",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
)
@click.option("--blob-port", type=click.IntRange(1, 65535), default=FarmPorts.standard().blob)
def local_gc(keep_days: int, data_dir: Path, blob_port: int) -> None:
    """Delete the local farm's stored project files no job has named for --keep-days: what the
    daily project_files_gc Function does in Azure. Uses the running farm's storage, or starts
    its Azurite alone."""
    layout = FarmLayout(root=data_dir)
    with (
        farm_storage(location=layout.azurite, port=blob_port, logs=layout.logs) as connection,
        BlobServiceClient.from_connection_string(connection) as blob,
    ):
        gc = collect(
            blob.get_container_client(SCENES_CONTAINER),
            now=datetime.now(UTC),
            keep=timedelta(days=keep_days),
        )
    stdout.print(
        f"{gc.files_deleted} files deleted ({gc.bytes_deleted / 1e6:.1f} MB), "
        f"{gc.file_sets_deleted} file sets deleted, {gc.files_kept} files kept"
    )
