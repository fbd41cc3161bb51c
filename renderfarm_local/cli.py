"""The ``renderfarm`` command: drive any farm over HTTP, or run the whole farm on this machine.

Every failure a person can act on ends as one line on stderr and a non-zero exit, never a
traceback.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from renderfarm_azure.api_key_admin import ApiKeyError
from renderfarm_local import services
from renderfarm_local.farm_api import DEFAULT_API_URL, FarmClient, FarmError
from renderfarm_local.farm_previews import fetch_previews
from renderfarm_local.job_follower import FrameDownloader, describe_failure
from renderfarm_local.keys_command import keys
from renderfarm_local.live_view import farm_view, latest_jobs
from renderfarm_local.local_farm import (
    DEFAULT_API_PORT,
    DEFAULT_DATA_DIR,
    FarmLayout,
    FarmPorts,
    LocalFarm,
    with_max_replicas,
)
from renderfarm_local.pools import DEFAULT_BLENDER, PoolUnavailable, local_pools
from renderfarm_local.render_request import ENGINES, FORMATS, RenderOptions
from renderfarm_local.rendering import report, submit_scene, watch_and_download
from renderfarm_local.scaling_rule import ScalingConfigError, ScalingParameters
from renderfarm_local.supervisor import ProcessFailed

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
LIVE_REFRESH_S = 1.0

stdout = Console()
stderr = Console(stderr=True)


@dataclass(frozen=True, kw_only=True)
class Target:
    api_url: str
    api_key: str | None

    def client(self) -> FarmClient:
        return FarmClient(api_url=self.api_url, api_key=self.api_key)


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


def render_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``submit`` and ``local run`` share."""
    options = [
        click.argument("scene", type=click.Path(path_type=Path)),
        click.option("--frames", required=True, help="Blender syntax: 1-48, 1-10,20, 1-100x5"),
        click.option("--chunk-size", type=click.IntRange(1), help="frames per message"),
        click.option(
            "--engine", type=click.Choice(sorted(ENGINES), case_sensitive=False), default=None
        ),
        click.option("--samples", type=click.IntRange(1), default=None),
        click.option("--resolution", metavar="WxH", default=None, help="e.g. 320x240"),
        click.option(
            "--format",
            "output_format",
            type=click.Choice(sorted(FORMATS), case_sensitive=False),
            default="png",
            show_default=True,
        ),
        click.option("--priority", type=click.IntRange(0, 9), default=None),
        click.option(
            "--out",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="where frames and previews go [default: out/<job>]",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _options(**kwargs: Any) -> RenderOptions:
    return RenderOptions(
        blender=kwargs.get("pin_blender"),
        not_before=kwargs.get("not_before"),
        frames=kwargs["frames"],
        chunk_size=kwargs["chunk_size"],
        engine=kwargs["engine"],
        samples=kwargs["samples"],
        resolution=kwargs["resolution"],
        output_format=kwargs["output_format"],
        priority=kwargs["priority"],
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--api-url",
    envvar="RENDERFARM_API_URL",
    default=DEFAULT_API_URL,
    show_default=True,
    help="the farm's URL [env RENDERFARM_API_URL]",
)
@click.option(
    "--api-key",
    envvar="RENDERFARM_API_KEY",
    default=None,
    help="[env RENDERFARM_API_KEY; default: the local farm's key]",
)
@click.pass_context
def cli(ctx: click.Context, api_url: str, api_key: str | None) -> None:
    """Render Blender scenes on a renderfarm, in Azure or on this machine."""
    ctx.obj = Target(api_url=api_url, api_key=resolve_key(api_url, api_key))


@cli.command()
@render_options
@click.option(
    "--blender",
    "pin_blender",
    metavar="MAJOR.MINOR",
    default=None,
    help="render with this Blender [default: the farm's oldest not older than the scene's]",
)
@click.option(
    "--not-before",
    metavar="TIME",
    default=None,
    help="RFC 3339 time before which nothing renders, e.g. 2026-12-24T22:00:00Z",
)
@click.option("--wait", is_flag=True, help="show progress and download frames as they land")
@click.pass_obj
def submit(target: Target, /, scene: Path, wait: bool, out: Path | None, **kwargs: Any) -> None:
    """Upload SCENE if the farm lacks it and render FRAMES of it."""
    started = time.monotonic()
    with target.client() as client:
        job = submit_scene(client, scene, _options(**kwargs), stderr)
        if not wait:
            click.echo(job.job_id)
            stderr.print(f"follow it with: renderfarm status {job.job_id}")
            return
        outcome = watch_and_download(client, job, out or Path("out") / job.job_id, stderr, started)
    report(outcome, stdout)


@cli.command()
@click.argument("job_id")
@click.pass_obj
def status(target: Target, /, job_id: str) -> None:
    """Show a job's state, frames and chunks."""
    with target.client() as client:
        progress = client.status(job_id, with_frames=False)
    stdout.print(
        f"job {progress.job_id}: [bold]{progress.state}[/], {progress.frames_done}/"
        f"{progress.frames_total} frames done, {progress.frames_failed} failed"
    )
    table = Table("chunk", "state", "frames", "attempts", "last error")
    for chunk in progress.chunks:
        table.add_row(
            str(chunk.index),
            chunk.state,
            f"{chunk.frames_done}/{chunk.frames_total}",
            str(chunk.attempts),
            (chunk.last_error or "").strip().splitlines()[-1:][0] if chunk.last_error else "",
        )
    stdout.print(table)
    if progress.state in {"failed", "cancelled"}:
        stdout.print(describe_failure(progress))


@cli.command()
@click.option(
    "--state",
    type=click.Choice(["scheduled", "queued", "rendering", "completed", "failed", "cancelled"]),
)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.pass_obj
def jobs(target: Target, /, state: str | None, limit: int) -> None:
    """List your jobs, newest first."""
    with target.client() as client:
        lines = client.jobs(limit=limit, state=state)
    table = Table("job", "state", "frames", "failed", "created")
    for line in lines:
        table.add_row(
            line.job_id,
            line.state,
            f"{line.frames_done}/{line.frames_total}",
            str(line.frames_failed),
            f"{line.created_at:%Y-%m-%d %H:%M:%S}",
        )
    stdout.print(table if lines else "no jobs yet")


@cli.command()
@click.argument("job_id")
@click.pass_obj
def cancel(target: Target, /, job_id: str) -> None:
    """Cancel a job; workers stop at their next frame."""
    with target.client() as client:
        state = client.cancel(job_id)
    stdout.print(f"job {job_id}: {state}")


@cli.command()
@click.argument("job_id")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.pass_obj
def download(target: Target, /, job_id: str, out: Path | None) -> None:
    """Download a job's rendered frames (and previews once it is complete)."""
    out_dir = out or Path("out") / job_id
    with target.client() as client:
        progress = client.status(job_id)
        downloader = FrameDownloader(client, out_dir)
        fetched = downloader.fetch_new(progress)
        files = [downloader.files[frame] for frame in sorted(downloader.files)]
        completed = progress.state == "completed" and bool(files)
        previews = fetch_previews(client, progress, files, out_dir) if completed else None
    stdout.print(f"{len(fetched)} frames downloaded, {len(files)} in {downloader.frames_dir}")
    if previews is not None:
        if previews.preview is not None:
            sheet, video = previews.preview.contact_sheet, previews.preview.animation
            made_by = previews.made_by
            stdout.print(f"contact sheet {sheet}, preview {video} (by {made_by})", soft_wrap=True)
    elif not progress.is_over:
        stdout.print(f"job {job_id} is {progress.state}: run this again for the rest")


@cli.group()
def local() -> None:
    """The whole farm on this machine: Azurite, the Service Bus emulator, the API, workers."""


def _local_farm(
    *,
    data_dir: Path,
    max_replicas: int | None,
    worker_command: str | None,
    api_port: int,
    free_ports: bool,
    blender: str,
) -> LocalFarm:
    scaling = with_max_replicas(ScalingParameters.load(services.SCALING_CONFIG), max_replicas)
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
    farm = _local_farm(**{key: kwargs.pop(key) for key in farm_keys})
    options = _options(**kwargs)
    with running(farm):
        started = time.monotonic()
        with FarmClient(api_url=farm.endpoints.api_url, api_key=farm.endpoints.api_key) as client:
            job = submit_scene(client, scene, options, stderr)
            outcome = watch_and_download(
                client, job, out or Path("out") / job.job_id, stderr, started
            )
    report(outcome, stdout)


cli.add_command(keys)


def main(argv: list[str] | None = None) -> int:
    """The console script: run the command, turn known failures into one line and an exit code."""
    try:
        result = cli.main(args=argv, prog_name="renderfarm", standalone_mode=False)
    except (FarmError, ProcessFailed, ScalingConfigError, PoolUnavailable, ApiKeyError) as error:
        click.echo(f"error: {error}", err=True)
        return EXIT_FAILED
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except (KeyboardInterrupt, click.Abort):
        stderr.print("interrupted")
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
