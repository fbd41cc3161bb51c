"""N simulated workers on the farm's real path, against Azurite, the Service Bus emulator and the
API (uvicorn on loopback, in this process): issue 23, "A thousand workers".

Each worker is a thread running the real worker loop (containerapp_worker.worker.Worker) with a
real ChunkRenderer, WorkerStorage and JobLifecycle over its own Blob client and its own two
Service Bus clients (the receiver's and the events sender's), as a replica has: receive, lock
renewal, the chunk record, each frame uploaded, the ledger tree, the job's end and its event,
then complete. Only Blender is replaced, by ``FakeBlender``: it waits ``--render-s`` per frame
and writes a small real PNG.

With ``--kill-fraction`` that share of the workers dies once, abruptly, on a chunk: half of them
mid-render (before the frame is uploaded), half right after the ledger settle (the end maybe
recorded, the message not completed). Nothing is settled on the way out; the thread closes its
clients as a dead process's connections drop, and a fresh worker takes its place (Container
Apps replaces a replica). The message comes back when its lock (``--lock-s``) expires.

Counted: Blob requests (a raw_response_hook on the workers' Blob clients: the API's own are
not counted), Service Bus operations (the SDK's receive, complete, abandon, renew and send
calls, the API's sends included, patched on the classes for the run), frames uploaded twice
(an upload that found the blob there), etag retries per settle (412 answers to the conditional
writes made inside a settle: none are expected with the ledger tree), GET /api/jobs/{id} while
the farm runs, and the time from a job's last frame upload to its manifest's finished_at.

    .venv/bin/python -m bench.bench_scale --workload one-job --frames 500 --workers 50
    .venv/bin/python -m bench.bench_scale --workload many-jobs --jobs 10 --frames 100 \
        --workers 200 --kill-fraction 0.05

Prints a short table, then one JSON line, last. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import tempfile
from pathlib import Path

from bench.scale_figures import Plan, table
from bench.scale_run import measure
from bench.scale_tally import TALLY, TallyHandler

MANY_JOBS = 100


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workload", choices=("one-job", "many-jobs"), default="one-job")
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--frames", type=int, default=None, help="per job")
    parser.add_argument("--jobs", type=int, default=None, help="many-jobs only (default 100)")
    parser.add_argument("--chunk-size", type=int, default=1)
    parser.add_argument("--render-s", type=float, default=0.2)
    parser.add_argument("--lock-s", type=int, default=5, help="the chunk queues' LockDuration")
    parser.add_argument("--kill-fraction", type=float, default=0.0)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args()
    many = args.workload == "many-jobs"
    plan = Plan(
        workload=args.workload,
        workers=args.workers,
        jobs=(args.jobs or MANY_JOBS) if many else 1,
        frames=args.frames or (100 if many else 1000),
        chunk_size=args.chunk_size,
        render_s=args.render_s,
        lock_s=args.lock_s,
        kill_fraction=args.kill_fraction,
        timeout_s=args.timeout_s,
        seed=args.seed,
    )
    quiet()
    with tempfile.TemporaryDirectory() as scratch:
        result = measure(plan, Path(scratch))
    # The services have stopped and been waited for: their CPU is in RUSAGE_CHILDREN.
    result["cpu_bench_s"] = cpu_seconds(resource.RUSAGE_SELF)
    result["cpu_services_s"] = cpu_seconds(resource.RUSAGE_CHILDREN)
    print(table(result))
    if TALLY.log_warnings:
        print("worker warnings:")
        for line, count in TALLY.log_warnings.most_common(5):
            print(f"  {count:>6}  {line[:100]}")
    print(json.dumps(result))


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return round(usage.ru_utime + usage.ru_stime, 1)


def quiet() -> None:
    """The figures only: the farm's lines are counted, not printed (the API's create_app puts a
    JSON handler on the root logger: these loggers do not reach it)."""
    handler = TallyHandler()
    levels = {
        "containerapp_worker": logging.WARNING,
        "containerapp_worker.worker": logging.INFO,  # its 'ready' lines
        "renderfarm": logging.WARNING,
        "renderfarm_azure": logging.WARNING,
        "functions": logging.WARNING,
        "azure": logging.ERROR,
        "uvicorn": logging.ERROR,
        "httpx": logging.ERROR,
    }
    for name, level in levels.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if "." not in name:
            logger.handlers[:] = [handler]
            logger.propagate = False


if __name__ == "__main__":
    main()
