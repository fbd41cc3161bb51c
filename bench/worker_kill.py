"""Time a chunk loses when its worker is SIGKILLed mid-render (an OOM kill, a lost node), on the
real path: the local farm (Azurite, the Service Bus emulator, the API, Blender workers under the
local autoscaler) with one replica at most, so the chunk's message comes back only when its lock
expires and the replacement continues from the first missing frame.

Each kill: a one-chunk job of the example scene at 64x48 and 4 samples; once its frames are
landing, and a little later each time so that the kills fall across the renewal cycle, SIGKILL
the worker's process group; from the kill, time (1) the redelivery (the chunk record's attempt
count rises) and (2) the resumption (a frame the killed worker had not uploaded lands). Prints
each kill and the time lost as a ratio to the queue's LockDuration, read from the emulator's
config; asserts nothing.

    .venv/bin/python -m bench.worker_kill [--kills 3] [--blend examples/example.blend]
"""

from __future__ import annotations

import argparse
import logging
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from azure.storage.blob import ContainerClient

from containerapp_worker.worker import RENEW_FRACTION
from emulators.servicebus.config import load_config
from renderfarm.shared import blob_layout
from renderfarm.shared.settings import Settings
from renderfarm_azure.chunk_records import read_chunk_record
from renderfarm_client.farm_api import FarmClient
from renderfarm_client.render_request import RenderOptions
from renderfarm_local import services
from renderfarm_local.farm_layout import FarmLayout, FarmPorts
from renderfarm_local.local_farm import LocalFarm
from renderfarm_local.scaling_rule import ScalingParameters
from renderfarm_local.supervisor import ManagedProcess

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_BLEND = REPO_ROOT / "examples" / "example.blend"
#: One replica, kept warm: the killed one's replacement is the only worker, so the chunk waits
#: for its lock. Fast decisions, as in the local farm's tests.
SCALING = ScalingParameters(
    min_replicas=1,
    max_replicas=1,
    message_count=1,
    activation_message_count=0,
    polling_interval_s=0.25,
    cooldown_period_s=5.0,
)
#: Tiny frames: far more than the kill and the redelivery take, in one chunk.
JOB = RenderOptions(frames="1-1000", chunk_size=1000, samples=4, resolution="64x48")
POLL_S = 0.05
WAIT_S = 180.0


@dataclass(frozen=True, kw_only=True)
class Kill:
    after_first_frame_s: float  # when, after the chunk's first frame landed, the worker died
    redelivered_s: float  # kill -> the chunk's attempt count rose
    resumed_s: float  # kill -> the first frame the killed worker had not uploaded
    frame_s: float  # the median seconds per frame, for scale


def lock_duration_s(queue: str) -> float:
    """The queue's LockDuration in the config the local farm's emulator runs."""
    config = load_config(services.SERVICEBUS_CONFIG)
    (found,) = [q for q in config.queues if q.name == queue]
    return found.lock_duration_ms / 1000


def wait_for[T](check: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + WAIT_S
    while (found := check()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {WAIT_S:.0f} s")
        time.sleep(POLL_S)
    return found


def frames_of(jobs: ContainerClient, job_id: str) -> set[str]:
    return set(jobs.list_blob_names(name_starts_with=blob_layout.frames_prefix(job_id)))


def the_worker(farm: LocalFarm) -> ManagedProcess | None:
    running = [worker for pool in farm.workers().values() for worker in pool]
    return running[0] if len(running) == 1 else None


def kill_once(
    farm: LocalFarm, client: FarmClient, jobs: ContainerClient, sha: str, delay_s: float
) -> Kill:
    job = client.submit(JOB.job_body(sha)).job_id
    wait_for(lambda: True if frames_of(jobs, job) else None, "first frame")
    first_frame = time.monotonic()
    time.sleep(delay_s)
    worker = wait_for(lambda: the_worker(farm), "worker")
    attempts = client.status(job, with_frames=False).chunks[0].attempts
    worker.signal_group(signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: True if not worker.is_running() else None, "exit")
    time.sleep(0.2)  # an upload the kill cut short has landed or never will
    before = frames_of(jobs, job)

    def redelivered() -> float | None:
        record = read_chunk_record(jobs, job, 0)[0]
        return time.monotonic() if record and record.attempts > attempts else None

    redelivered_at = wait_for(redelivered, "redelivery")
    resumed_at = wait_for(
        lambda: time.monotonic() if frames_of(jobs, job) - before else None, "resumed frame"
    )
    client.cancel(job)  # the replacement settles the message between two frames
    wait_for(lambda: True if _queue_empty(farm) else None, "an empty queue")
    record = read_chunk_record(jobs, job, 0)[0]  # its last write carries every frame's time
    seconds = list(record.frame_seconds.values()) if record else []
    return Kill(
        after_first_frame_s=killed - first_frame,
        redelivered_s=redelivered_at - killed,
        resumed_s=resumed_at - killed,
        frame_s=statistics.median(seconds) if seconds else 0.0,
    )


def _queue_empty(farm: LocalFarm) -> bool:
    """Every band's queue of the pool is empty (the job is normal; a worker asks all three)."""
    for queue in farm.queues_of(farm.pools[0]):
        counts = services.http_json(f"{farm.endpoints.management_url}/queues/{queue}")
        if counts is None or counts["total_message_count"] != 0:
            return False
    return True


def report(kills: list[Kill], lock_s: float, locks: dict[str, float]) -> str:
    """``lock_s``: the lock of the queue the job waits in; ``locks``: every band queue's."""
    queues = ", ".join(f"{queue} {seconds:.0f} s" for queue, seconds in locks.items())
    lines = [
        f"lock duration {lock_s:.0f} s (queues {queues}: emulators/servicebus/config.json), "
        f"renewed every {lock_s * RENEW_FRACTION:.0f} s; one replica; {len(kills)} SIGKILLs"
    ]
    for number, kill in enumerate(kills, 1):
        lines.append(
            f"kill {number} ({kill.after_first_frame_s:4.1f} s into the chunk): redelivered after "
            f"{kill.redelivered_s:5.1f} s, frames resumed after {kill.resumed_s:5.1f} s "
            f"= {kill.resumed_s / lock_s:.2f}x the lock (a frame takes {kill.frame_s:.2f} s)"
        )
    lost = [kill.resumed_s for kill in kills]
    mean = statistics.mean(lost)
    lines.append(
        f"time lost per kill: mean {mean:.1f} s = {mean / lock_s:.2f}x the lock "
        f"(min {min(lost):.1f} s, max {max(lost):.1f} s; the lock alone: "
        f"{1 - RENEW_FRACTION:.2f}x to 1x)"
    )
    return "\n".join(lines)


def _ensure_example(blend: Path) -> None:
    if not blend.exists():
        script = REPO_ROOT / "examples" / "make_example_scene.py"
        subprocess.run([sys.executable, str(script), str(blend)], check=True, capture_output=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--blend", type=Path, default=EXAMPLE_BLEND)
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the figures only: the kills are meant, not news
    _ensure_example(args.blend)
    with tempfile.TemporaryDirectory(prefix="bench-worker-kill-") as root:
        farm = LocalFarm(
            layout=FarmLayout(root=Path(root)), ports=FarmPorts.free(), scaling=SCALING
        )
        locks = {queue: lock_duration_s(queue) for queue in farm.queues_of(farm.pools[0])}
        lock_s = locks[farm.queue_of(farm.pools[0])]  # the job is normal priority
        farm.start()
        try:
            jobs = ContainerClient.from_connection_string(
                farm.endpoints.storage_connection_string,
                Settings.model_fields["jobs_container"].default,
            )
            with FarmClient(
                api_url=farm.endpoints.api_url, api_key=farm.endpoints.api_key
            ) as client:
                sha, _ = client.ensure_scene(args.blend)
                # Each kill later in the renewal cycle than the one before, at the middles of
                # equal slices of it, so that their mean estimates the mean cost of a kill.
                step = lock_s * RENEW_FRACTION / args.kills
                kills = [
                    kill_once(farm, client, jobs, sha, delay_s=(number + 0.5) * step)
                    for number in range(args.kills)
                ]
        finally:
            farm.stop()
    print(report(kills, lock_s, locks))


if __name__ == "__main__":
    main(sys.argv[1:])
