"""`renderfarm local up`'s screen: the services, the queue, the replicas and the latest jobs."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from renderfarm_client.farm_api import FarmClient, FarmError, JobLine
from renderfarm_local.autoscaler import ScalePoll
from renderfarm_local.local_farm import LocalFarm
from renderfarm_local.pools import LocalPool
from renderfarm_local.supervisor import ServiceHealth, ServiceState

LATEST_JOBS = 8


def latest_jobs(client: FarmClient) -> list[JobLine] | str:
    try:
        return client.jobs(limit=LATEST_JOBS)
    except FarmError as error:
        return str(error)


def farm_view(
    farm: LocalFarm, polls: dict[str, ScalePoll | None], jobs: list[JobLine] | str
) -> Group:
    endpoints = farm.endpoints
    services = Table.grid(padding=(0, 2))
    services.add_row("API", f"{endpoints.api_url}/api  (docs: {endpoints.api_url}/api/docs)")
    services.add_row("API key", f"{farm.layout.api_key_file}  (the CLI reads it)")
    services.add_row("Blob", f"Azurite on 127.0.0.1:{farm.ports.blob}")
    services.add_row("Service Bus", f"emulator on 127.0.0.1:{farm.ports.amqp}")
    services.add_row("logs", str(farm.layout.logs))
    for health in farm.service_health():
        services.add_row(health.name, _health_text(health))

    scaling = Table.grid(padding=(0, 2))
    params = farm.scaling
    for pool in farm.pools:
        _pool_rows(scaling, farm, pool, polls.get(str(pool.version)))
    scaling.add_row(
        "rule",
        f"ceil(active / {params.message_count}), activation > "
        f"{params.activation_message_count}, poll every {params.polling_interval_s:g} s, "
        f"cooldown {params.cooldown_period_s:g} s",
    )

    job_table = Table("job", "state", "frames", "failed", "created", expand=True)
    if isinstance(jobs, str):
        job_table.add_row(jobs, "", "", "", "")
    for job in jobs if not isinstance(jobs, str) else []:
        job_table.add_row(
            job.job_id,
            job.state,
            f"{job.frames_done}/{job.frames_total}",
            str(job.frames_failed or ""),
            f"{job.created_at:%H:%M:%S}",
        )
    return Group(
        Panel(services, title="renderfarm local farm  (Ctrl-C stops it)"),
        Panel(scaling, title="Blender pools: one autoscaler each (KEDA azure-servicebus rule)"),
        Panel(job_table, title="latest jobs"),
    )


def _health_text(health: ServiceHealth) -> str:
    """``running (pid 42), restarted 2 times, last exit -9``, in red when it is down."""
    if health.state is ServiceState.RUNNING:
        text = f"running (pid {health.pid})"
    elif health.state is ServiceState.RESTARTING:
        text = f"[yellow]restarting in {health.restart_in_s or 0:.1f} s[/]"
    else:
        text = f"[red]{health.state.value}[/]"
    if health.restarts:
        text += f", restarted {health.restarts} time{'s' if health.restarts > 1 else ''}"
    if health.last_exit is not None:
        text += f", last exit {health.last_exit}"
    return text


def _pool_rows(table: Table, farm: LocalFarm, pool: LocalPool, poll: ScalePoll | None) -> None:
    """A pool's queues (one per priority band, highest first) and replicas, as its autoscaler
    last saw them."""
    params = farm.scaling
    label = f"Blender {pool.version}"
    table.add_row(label, f"python {pool.python}")
    counts = dict(poll.by_queue) if poll is not None else {}
    for queue in farm.queues_of(pool):
        active = counts.get(queue)
        table.add_row("", f"queue {queue}" + (f": {active} active" if active is not None else ""))
    if poll is None:
        table.add_row("", "waiting for the first poll")
        return
    table.add_row(
        "",
        f"{poll.active_messages} active in the deepest queue (KEDA's metric), "
        f"{poll.dead_letters} dead-lettered"
        + (f"  [red]{poll.depth_error}[/]" if poll.depth_error else ""),
    )
    table.add_row(
        "",
        f"{poll.replicas} replicas running (min {params.min_replicas}, max "
        f"{params.max_replicas}); {poll.workers.started} started, "
        f"{poll.workers.exited_on_their_own} exited by themselves",
    )
