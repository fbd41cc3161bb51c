"""bench_scale's plan and what it reports: the figures of one run, and the table printed before
its JSON line."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.scale_tally import TALLY
from renderfarm_azure.job_store import BlobJobStores


@dataclass(frozen=True, kw_only=True)
class Plan:
    workload: str
    workers: int
    jobs: int
    frames: int  # per job
    chunk_size: int
    render_s: float
    lock_s: int
    kill_fraction: float
    timeout_s: float
    seed: int


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one run came to: its jobs, whether they all ended in time, and how long it took."""

    jobs: list[str]
    ended: bool
    end_events: Counter[str]  # job.completed, failed or cancelled events per job
    wall_s: float
    ready_s: float


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(plan: Plan, store: BlobJobStores, run: Outcome) -> dict[str, Any]:
    jobs, end_events = run.jobs, run.end_events
    frames_done = 0
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    for job_id in jobs:
        frames_done += len(
            store.frames.frames_present(job_id) & frozenset(range(1, plan.frames + 1))
        )
        versioned = store.manifests.read_manifest(job_id)
        manifest = versioned.manifest if versioned is not None else None
        outcomes[str(manifest.outcome if manifest is not None else None)] += 1
        if manifest is not None and manifest.finished_at and job_id in TALLY.last_upload:
            last = datetime.fromtimestamp(TALLY.last_upload[job_id], UTC)
            latencies.append((manifest.finished_at - last).total_seconds())
    total = plan.jobs * plan.frames
    bus_ops = sum(TALLY.bus_ops.values())
    return {
        "workload": plan.workload,
        "workers": plan.workers,
        "jobs": plan.jobs,
        "frames": total,
        "frames_done": frames_done,
        "lost": total - frames_done,
        "doubled": TALLY.doubled,
        "ended": run.ended,
        "outcomes": dict(outcomes),
        "kills": dict(TALLY.kills),
        "settles": len(TALLY.settle_retries),
        "settle_retries_p50": percentile([float(n) for n in TALLY.settle_retries], 0.5),
        "settle_retries_p99": percentile([float(n) for n in TALLY.settle_retries], 0.99),
        "settle_retries_max": max(TALLY.settle_retries, default=0),
        "settle_retry_blobs": dict(TALLY.settle_retry_blobs),
        "settle_create_conflicts": TALLY.settle_conflicts,
        "job_end_latency_s": round(statistics.median(latencies), 3) if latencies else None,
        "job_end_latency_max_s": round(max(latencies), 3) if latencies else None,
        "job_end_events": sum(end_events.values()),
        "jobs_ended_once": sum(1 for job in jobs if end_events[job] == 1),
        "status_p50_ms": round(percentile(TALLY.status_s, 0.5) * 1000, 1),
        "status_p99_ms": round(percentile(TALLY.status_s, 0.99) * 1000, 1),
        "status_reads": len(TALLY.status_s),
        "status_errors": TALLY.status_errors,
        "storage_requests_per_frame": round(TALLY.blob_requests / max(frames_done, 1), 2),
        "blob_statuses": {str(k): v for k, v in sorted(TALLY.blob_statuses.items())},
        "servicebus_ops_per_frame": round(bus_ops / max(frames_done, 1), 2),
        "servicebus_ops": dict(TALLY.bus_ops),
        "frames_per_s": round(frames_done / run.wall_s, 1),
        "ready_s": round(run.ready_s, 1),
        "wall_s": round(run.wall_s, 1),
        "render_s": plan.render_s,
        "lock_s": plan.lock_s,
        "worker_warnings": sum(TALLY.log_warnings.values()),
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        ("workers / jobs / frames", f"{result['workers']} / {result['jobs']} / {result['frames']}"),
        (
            "frames done, lost, doubled",
            f"{result['frames_done']}, {result['lost']}, {result['doubled']}",
        ),
        ("jobs ended (once)", f"{result['outcomes']} ({result['jobs_ended_once']} once)"),
        ("kills", str(result["kills"] or "none")),
        (
            "settle etag retries p50/p99/max",
            f"{result['settle_retries_p50']:.0f} / "
            f"{result['settle_retries_p99']:.0f} / {result['settle_retries_max']}",
        ),
        (
            "job end latency p50/max s",
            f"{result['job_end_latency_s']} / {result['job_end_latency_max_s']}",
        ),
        ("status p50/p99 ms", f"{result['status_p50_ms']} / {result['status_p99_ms']}"),
        ("blob requests / frame", str(result["storage_requests_per_frame"])),
        ("service bus ops / frame", str(result["servicebus_ops_per_frame"])),
        ("frames/s, wall s", f"{result['frames_per_s']}, {result['wall_s']}"),
        ("CPU s: bench / services", f"{result['cpu_bench_s']} / {result['cpu_services_s']}"),
    ]
    return "\n".join(f"{name:<34}{value}" for name, value in rows)
