"""`renderfarm local up`'s screen: the services, the queue, the replicas and the latest jobs."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from renderfarm_local.autoscaler import ScalePoll
from renderfarm_local.farm_api import FarmClient, FarmError, JobLine
from renderfarm_local.local_farm import LocalFarm

LATEST_JOBS = 8


def latest_jobs(client: FarmClient) -> list[JobLine] | str:
    try:
        return client.jobs(limit=LATEST_JOBS)
    except FarmError as error:
        return str(error)


def farm_view(farm: LocalFarm, poll: ScalePoll | None, jobs: list[JobLine] | str) -> Group:
    endpoints = farm.endpoints
    services = Table.grid(padding=(0, 2))
    services.add_row("API", f"{endpoints.api_url}/api  (docs: {endpoints.api_url}/api/docs)")
    services.add_row("API key", f"{farm.layout.api_key_file}  (the CLI reads it)")
    services.add_row("Blob", f"Azurite on 127.0.0.1:{farm.ports.blob}")
    services.add_row("Service Bus", f"emulator on 127.0.0.1:{farm.ports.amqp}")
    services.add_row("logs", str(farm.layout.logs))

    scaling = Table.grid(padding=(0, 2))
    params = farm.scaling
    if poll is None:
        scaling.add_row("queue", "waiting for the first poll")
    else:
        scaling.add_row(
            "queue",
            f"{poll.active_messages} active, {poll.dead_letters} dead-lettered"
            + (f"  [red]{poll.depth_error}[/]" if poll.depth_error else ""),
        )
        scaling.add_row(
            "replicas",
            f"{poll.replicas} running (min {params.min_replicas}, max {params.max_replicas}); "
            f"{poll.workers.started} started, {poll.workers.exited_on_their_own} exited by "
            "themselves",
        )
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
        Panel(scaling, title="autoscaler (KEDA azure-servicebus rule)"),
        Panel(job_table, title="latest jobs"),
    )
