"""Settling the 300 one-frame chunks of one job from N settlers at once, each with its own
Service Bus client as workers have, against Azurite and the Service Bus emulator, with the
project's own JobLifecycle: the single ledger blob that every settle etag-races (jobs from
before the tree) beside the ledger tree (renderfarm.jobs.end), in one run.

Prints, per ledger and number of settlers: settles/s, p50 and p99 of a settle, the settles
that gave up, the etag retries the tree made (its markers are written by one settler each, or
created once), and whether the job's end was recorded, once; then a JSON line. Asserts nothing.

    .venv/bin/python -m bench.bench_ledger [--chunks 300] [--settlers 1,8,32]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from azure.servicebus import ServiceBusClient
from azure.storage.blob import BlobServiceClient

from emulators.servicebus.config import BUNDLED_CONFIG
from renderfarm.chunks.record import ChunkState
from renderfarm.jobs.end import LEDGER_BLOB, LEDGER_TREE
from renderfarm.jobs.lifecycle import JobLifecycle
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.spec import JobSpec
from renderfarm.shared.render_settings import RenderSettings
from renderfarm.shared.settings import Settings
from renderfarm_azure.job_ledger import job_lifecycle
from testbed.emulators import run_azurite, run_servicebus


@dataclass(frozen=True, kw_only=True)
class Figures:
    ledger: str
    settlers: int
    settles_per_s: float
    p50_ms: float
    p99_ms: float
    gave_up: int
    end_recorded: bool


def new_job(lifecycle: JobLifecycle, chunks: int, ledger: int) -> JobManifest:
    spec = JobSpec(
        scene_sha256="0" * 64,
        frames=tuple(range(1, chunks + 1)),
        render=RenderSettings(),
        chunk_size=1,
        priority=5,
    )
    manifest = JobManifest.new(
        job_id=uuid.uuid4().hex,
        tenant="bench",
        spec=spec,
        created_at=datetime.now(UTC),
        fingerprint="bench",
        blender="5.3",
        scene_saved_by="5.3",
        blender_pinned=False,
    )
    manifest = replace(manifest, ledger=ledger)
    assert lifecycle.store.manifests.create_manifest(manifest) is not None
    return manifest


def measure(settings: Settings, chunks: int, settlers: int, ledger: int) -> Figures:
    assert settings.storage_connection_string and settings.servicebus_connection_string
    blobs = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    buses = [
        ServiceBusClient.from_connection_string(settings.servicebus_connection_string)
        for _ in range(settlers)
    ]
    lifecycles = [job_lifecycle(settings, blob_service=blobs, bus=bus) for bus in buses]
    manifest = new_job(lifecycles[0], chunks, ledger)
    seconds: list[float] = []
    gave_up = [0]
    start = threading.Barrier(settlers + 1)

    def settle(worker: int) -> None:
        start.wait()
        for index in range(worker, chunks, settlers):
            began = time.perf_counter()
            try:
                lifecycles[worker].chunk_settled(manifest, index, ChunkState.DONE)
            except Exception:  # LedgerContention and the like: the settle is lost for now
                gave_up[0] += 1
            seconds.append(time.perf_counter() - began)

    threads = [threading.Thread(target=settle, args=(i,)) for i in range(settlers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    ended = lifecycles[0].store.manifests.read_manifest(manifest.job_id)
    for bus in buses:
        bus.close()
    blobs.close()
    ms = sorted(s * 1000 for s in seconds)
    return Figures(
        ledger="tree" if ledger == LEDGER_TREE else "one blob",
        settlers=settlers,
        settles_per_s=chunks / wall,
        p50_ms=statistics.median(ms),
        p99_ms=ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))],
        gave_up=gave_up[0],
        end_recorded=ended is not None and ended.manifest.outcome == "completed",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=300)
    parser.add_argument("--settlers", default="1,8,32")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    figures: list[Figures] = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        run_azurite(Path(scratch) / "azurite") as azurite,
        run_servicebus(Path(scratch) / "servicebus", Path(BUNDLED_CONFIG)) as servicebus,
    ):
        settings = Settings(
            storage_connection_string=azurite.connection_string,
            servicebus_connection_string=servicebus.connection_string,
        )
        BlobServiceClient.from_connection_string(azurite.connection_string).create_container(
            settings.jobs_container
        )
        for settlers in (int(n) for n in args.settlers.split(",")):
            for ledger in (LEDGER_BLOB, LEDGER_TREE):  # side by side, in one run
                figures.append(measure(settings, args.chunks, settlers, ledger))
    print(f"{args.chunks} one-frame chunks of one job")
    print("ledger     settlers  settles/s    p50 ms    p99 ms  gave up  end recorded")
    for f in figures:
        print(
            f"{f.ledger:<10} {f.settlers:>8} {f.settles_per_s:>10.1f} {f.p50_ms:>9.1f} "
            f"{f.p99_ms:>9.1f} {f.gave_up:>8}  {'yes' if f.end_recorded else 'NO'}"
        )
    print(json.dumps([f.__dict__ for f in figures]))


if __name__ == "__main__":
    main()
